package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/metalink"
)

// DefaultMaxRanges is the number of ranges one request may ask for when
// HandlerOptions.MaxRanges is zero (Apache allows 200; 64 is plenty for any
// downloader, mlink's repair included).
const DefaultMaxRanges = 64

// DefaultLinkMirrors is the number of rel=duplicate Link header fields sent
// per response when HandlerOptions.LinkMirrors is zero.
const DefaultLinkMirrors = 10

// DefaultCacheControl is the Cache-Control sent with files when
// HandlerOptions.CacheControl is empty. Release artifacts rarely change, and
// the strong ETag makes revalidation cheap when they do; no-transform keeps
// proxies from recompressing them.
const DefaultCacheControl = "public, max-age=3600, no-transform"

// Media types of the metalink documents the handler serves.
const (
	mediaMeta4    = "application/metalink4+xml"
	mediaMetalink = "application/metalink+xml"
)

// SumSource computes (or looks up) the size, whole-file hashes and piece
// hashes of the file name inside root. *Hasher implements it.
type SumSource interface {
	Sums(ctx context.Context, root *os.Root, name string) (*metalink.File, error)
}

// HandlerOptions configures a Handler. The zero value serves DIR with no
// mirrors, hashing on demand with a default Hasher and no persistent cache.
type HandlerOptions struct {
	// Mirrors are the mirrors of the whole tree: a file NAME is at
	// MirrorURL(m.URL, NAME) on each. They are announced in Link rel=duplicate
	// header fields and in the generated metalinks.
	Mirrors []Mirror
	// LinkMirrors caps the rel=duplicate Link fields per response to the
	// best-priority mirrors (0 = DefaultLinkMirrors, negative = none). The
	// generated metalinks always list every mirror.
	LinkMirrors int
	// MaxRanges caps the range-specs of one Range header (0 = DefaultMaxRanges).
	// A request with more is answered 200 with the whole file.
	MaxRanges int
	// Negotiate lets a GET of a file whose Accept header asks for
	// application/metalink4+xml (or application/metalink+xml) get the
	// metalink instead of the file. Off by default: clients asking for the
	// file must get the file.
	Negotiate bool
	// Sums computes file hashes; nil means a zero *Hasher: sha-256 whole-file
	// and piece hashes, no persistent cache. Use a Hasher with sha-512 among
	// its Hashes to answer Want-Digest: SHA-512 and to list it in metalinks.
	Sums SumSource
	// BaseURL is the public URL of DIR, e.g. "https://example.org/pub/". It is
	// used for this server's own URL and the origin in generated metalinks.
	// Empty means the scheme and Host of each request.
	BaseURL string
	// CacheControl is sent with files (empty = DefaultCacheControl).
	// Metalinks and index pages are always sent with "no-cache".
	CacheControl string
	// WriteStallTimeout drops a client that accepts no data for this long
	// (0 = one minute). It is a per-write deadline, so slow but steady
	// downloads of large files are not cut off.
	WriteStallTimeout time.Duration
	// Logger receives one line per request (nil = discard). Query strings,
	// credentials and cookies are never logged.
	Logger *slog.Logger
	// Generator is written into generated metalinks (empty = "mlink").
	Generator string
}

// Handler is an http.Handler that serves the files of a directory tree as a
// Metalink mirror and origin server: byte ranges, strong ETags derived from
// the content's sha-256, conditional requests, RFC 6249 Link and Digest
// header fields, RFC 9530 Repr-Digest, a metalink for every file (NAME.meta4,
// NAME.metalink) and an HTML index for directories. Only GET and HEAD are
// served.
//
// Algorithm: the request path is checked component by component ("." and
// "..", empty components, backslashes and control characters are 400;
// components starting with "." are 404) and opened through an os.Root, so
// nothing outside the directory is served, not even through a symbolic link;
// only regular files and directories are. A file's hashes come from the
// SumSource (the hash cache when the Hasher has one); the ETag, Digest and
// Repr-Digest fields are derived from them, then the Range field is resolved,
// capped and coalesced (planRanges: SECURITY.md rule 16) and the rest (the
// RFC 9110 precedence of If-Match, If-Unmodified-Since, If-None-Match,
// If-Modified-Since and If-Range; single ranges; multipart/byteranges; 416)
// is http.ServeContent's. The Link and Digest fields go on 200 and 206
// responses only, HEAD included.
//
// Concurrency: requests are independent. The first request for a file that
// is not hashed yet starts hashing it; concurrent requests for the same file
// and version wait for that one computation (singleflight), requests for
// other files proceed. Hashing continues if the requesting client goes away.
// Known hashes are kept in memory, keyed by name and checked against size and
// modification time on every request.
//
// On disk: the Handler writes nothing (a Hasher with a Cache writes the
// cache). A file replaced while it is being hashed is reported 503 and
// hashed again on the next request.
//
// A Handler is safe for concurrent use. Close releases the directory.
type Handler struct {
	root      *os.Root
	dir       string
	opts      HandlerOptions
	sums      *handlerSums
	log       *slog.Logger
	maxRanges int
}

// NewHandler returns a Handler serving the tree at dir.
func NewHandler(dir string, opts HandlerOptions) (*Handler, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("serve %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("serve %s: not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve %s: %w", dir, err)
	}
	if opts.BaseURL != "" && !strings.HasSuffix(opts.BaseURL, "/") {
		opts.BaseURL += "/"
	}
	if opts.Sums == nil {
		opts.Sums = &Hasher{}
	}
	if opts.CacheControl == "" {
		opts.CacheControl = DefaultCacheControl
	}
	if opts.WriteStallTimeout <= 0 {
		opts.WriteStallTimeout = time.Minute
	}
	if opts.Generator == "" {
		opts.Generator = "mlink"
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxRanges := opts.MaxRanges
	if maxRanges <= 0 {
		maxRanges = DefaultMaxRanges
	}
	return &Handler{
		root:      root,
		dir:       dir,
		opts:      opts,
		sums:      newHandlerSums(opts.Sums, root),
		log:       logger,
		maxRanges: maxRanges,
	}, nil
}

// Close releases the served directory. Requests in flight may fail afterwards.
func (h *Handler) Close() error { return h.root.Close() }

// ServeHTTP serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := newServeWriter(w, h.opts.WriteStallTimeout)
	defer rw.done()
	h.serve(rw, r)
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.Int("status", rw.status),
		slog.Int64("bytes", rw.written),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
		slog.String("proto", r.Proto),
	}
	if v := r.Header.Get("Range"); v != "" {
		if len(v) > 80 {
			v = v[:80] + "..."
		}
		attrs = append(attrs, slog.String("range", v))
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

func (h *Handler) serve(w *serveWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, isDir, status := cleanRequestPath(r.URL.Path)
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if name == "." || isDir {
		h.serveDir(w, r, name)
		return
	}
	st, err := h.root.Stat(name)
	if err == nil && st.IsDir() {
		// A directory without its trailing slash: relative links in the
		// index need it.
		target := r.URL.EscapedPath() + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	}
	if err == nil && st.Mode().IsRegular() {
		if h.opts.Negotiate && r.Method == http.MethodGet && !isMetalinkName(name) {
			if f := negotiateMetalink(r.Header.Values("Accept")); f != "" {
				w.Header().Add("Vary", "Accept")
				h.serveMetalink(w, r, name, f, true)
				return
			}
		}
		if h.opts.Negotiate {
			w.Header().Add("Vary", "Accept")
		}
		h.serveFile(w, r, name)
		return
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !isRootEscape(err) {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "stat failed", slog.String("name", name), slog.String("error", err.Error()))
	}
	// NAME.meta4 and NAME.metalink of a file that exists.
	for _, ext := range []struct {
		suffix string
		format metalink.Format
	}{{".meta4", metalink.FormatV4}, {".metalink", metalink.FormatV3}} {
		base, ok := strings.CutSuffix(name, ext.suffix)
		if !ok || base == "" || strings.HasSuffix(base, "/") {
			continue
		}
		if bst, err := h.root.Stat(base); err == nil && bst.Mode().IsRegular() {
			h.serveMetalink(w, r, base, ext.format, false)
			return
		}
	}
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// isRootEscape reports whether err says a path left the os.Root (a symbolic
// link pointing outside): served as 404, like a missing file.
func isRootEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// cleanRequestPath turns a decoded URL path into a name relative to the
// served root. It refuses (400) anything that is not a plain slash path:
// no "." or ".." components, no empty components, no backslashes or
// control characters; and hides (404) dotfiles. isDir reports a trailing
// slash. The root itself is ".".
func cleanRequestPath(p string) (name string, isDir bool, status int) {
	if !strings.HasPrefix(p, "/") {
		return "", false, http.StatusBadRequest
	}
	p = p[1:]
	if p == "" {
		return ".", true, 0
	}
	if strings.HasSuffix(p, "/") {
		isDir = true
		p = p[:len(p)-1]
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", false, http.StatusBadRequest
		}
	}
	hidden := false
	for comp := range strings.SplitSeq(p, "/") {
		switch {
		case comp == "", comp == ".", comp == "..":
			return "", false, http.StatusBadRequest
		case strings.HasPrefix(comp, "."):
			hidden = true
		}
	}
	if hidden {
		return "", false, http.StatusNotFound
	}
	return p, isDir, 0
}

// isMetalinkName reports whether name is a metalink document by its extension.
func isMetalinkName(name string) bool {
	return strings.HasSuffix(name, ".meta4") || strings.HasSuffix(name, ".metalink")
}

// contentType is the Content-Type of a served file, from its extension only
// (never sniffed: a mirror must not turn an uploaded file into a web page).
func contentType(name string) string {
	switch path.Ext(name) {
	case ".meta4":
		return mediaMeta4
	case ".metalink":
		return mediaMetalink
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// serveFile serves a regular file with its validators and Metalink/HTTP
// header fields, then hands the byte ranges and conditional requests to
// http.ServeContent.
func (h *Handler) serveFile(w *serveWriter, r *http.Request, name string) {
	f, err := h.root.Open(name)
	if err != nil {
		h.fileError(w, r, name, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		h.fileError(w, r, name, err)
		return
	}
	sums, err := h.sums.get(r.Context(), name, st)
	if err != nil {
		if r.Context().Err() != nil {
			w.status = 499 // logged only: the client went away while the file was being hashed
			return
		}
		h.log.LogAttrs(r.Context(), slog.LevelError, "hashing failed", slog.String("name", name), slog.String("error", err.Error()))
		http.Error(w, "cannot hash the file", http.StatusServiceUnavailable)
		return
	}
	w.extend() // hashing a large file may have taken longer than the stall timeout
	hd := w.Header()
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Type", contentType(name))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", h.opts.CacheControl)
	if et := sums.etag(); et != "" {
		hd.Set("ETag", et)
	}
	// The Metalink/HTTP fields go on 200 and 206 only (HEAD included): a 304,
	// 412 or 416 describes no transfer of the file.
	w.onSuccess = func(hd http.Header) { h.setMetalinkHeaders(hd, r, name, sums) }

	switch r.Method {
	case http.MethodHead:
		// Range is defined for GET only (RFC 9110 section 14.2).
		if r.Header.Get("Range") != "" {
			r = withRange(r, "")
		}
	case http.MethodGet:
		if v := r.Header.Values("Range"); len(v) > 1 {
			r = withRange(r, "") // several Range fields: ignore them all
		} else if len(v) == 1 {
			r = withRange(r, planRanges(v[0], st.Size(), h.maxRanges).header)
		}
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// withRange returns a shallow copy of r whose Range field is v ("" = none),
// leaving the caller's request untouched.
func withRange(r *http.Request, v string) *http.Request {
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	if v == "" {
		r2.Header.Del("Range")
	} else {
		r2.Header.Set("Range", v)
	}
	return r2
}

func (h *Handler) fileError(w http.ResponseWriter, r *http.Request, name string, err error) {
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !isRootEscape(err) {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "open failed", slog.String("name", name), slog.String("error", err.Error()))
	}
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// serveWriter wraps the ResponseWriter of one request: it records the status
// and the bytes sent for the access log, adds the Metalink/HTTP header fields
// when the status turns out to be 200 or 206, and keeps a write deadline
// WriteStallTimeout ahead while data flows, so a stalled client is dropped but
// a slow one is not. It keeps io.ReaderFrom, so files still go out by
// sendfile(2).
type serveWriter struct {
	http.ResponseWriter
	rc        *http.ResponseController
	stall     time.Duration
	onSuccess func(http.Header)
	status    int
	written   int64
	wrote     bool
}

func newServeWriter(w http.ResponseWriter, stall time.Duration) *serveWriter {
	sw := &serveWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}
	sw.extend()
	return sw
}

// extend pushes the write deadline stall into the future (ignored when the
// connection does not support deadlines, as in httptest.ResponseRecorder).
func (w *serveWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.stall)) }

// done clears the write deadline so that it does not outlive this request on
// a kept-alive connection.
func (w *serveWriter) done() {
	if !w.wrote && w.status == 0 {
		w.status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	_ = w.rc.SetWriteDeadline(time.Time{})
}

func (w *serveWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wrote = true
	w.status = code
	if (code == http.StatusOK || code == http.StatusPartialContent) && w.onSuccess != nil {
		w.onSuccess(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *serveWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	w.extend()
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// serveChunk is how much of a file goes out between two deadline extensions.
const serveChunk = 4 << 20

// ReadFrom sends r in chunks, extending the write deadline before each. A
// *io.LimitedReader over an *os.File (what http.ServeContent hands over) is
// re-sliced rather than wrapped, so that the connection's sendfile path
// still recognises it.
func (w *serveWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(writerOnly{w}, r)
		return n, err
	}
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		w.extend()
		n, err := rf.ReadFrom(r)
		w.written += n
		return n, err
	}
	var total int64
	for lr.N > 0 {
		chunk := min(lr.N, serveChunk)
		w.extend()
		part := &io.LimitedReader{R: lr.R, N: chunk}
		n, err := rf.ReadFrom(part)
		lr.N -= n
		total += n
		w.written += n
		if err != nil {
			return total, err
		}
		if n < chunk {
			break // source exhausted
		}
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the connection.
func (w *serveWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends buffered data to the client.
func (w *serveWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.rc.Flush()
}

// writerOnly hides ReadFrom so io.Copy does not recurse into it.
type writerOnly struct{ io.Writer }
