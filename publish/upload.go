package publish

// Resumable uploads, server side (issue 5, seed 002, SECURITY.md rule 19).
//
// Protocol. A client PUTs a file to /NAME in chunks, each carrying
// "Content-Range: bytes A-B/TOTAL". Until the last byte has arrived the server
// answers "308 Resume Incomplete" with "Range: bytes=0-N" (N+1 bytes received).
// A PUT with "Content-Length: 0" and "Content-Range: bytes */TOTAL" is a status
// query: 308 with the received range, and no Range header when nothing has been
// received. A PUT without Content-Range is a whole-file upload in one request
// (what "curl -T" sends). The request that brings the last byte completes the
// upload: the server compares the sha-256 it computed over the staged bytes with
// the one the client declared ("Repr-Digest: sha-256=:BASE64:", RFC 9530, or
// "Digest: SHA-256=BASE64", RFC 3230, on any request of the upload), fsyncs,
// and moves the file under its name atomically; 201 Created carries the
// server's Repr-Digest. A mismatch answers 422 and discards the staged bytes:
// nothing is published.
//
// On disk. Partial uploads live in DIR/.mlink-uploads (a dot-directory, so the
// serving handler never shows it): KEY.part holds the bytes received, in order,
// and KEY.json the name, the total length and the declared sha-256. KEY is
// derived from the name. The received offset is the size of KEY.part, so a
// restarted server reports its true offset. The running sha-256 is kept in
// memory and advanced as chunks land; after a restart (or whenever it is not
// in step with the file) the staged bytes are re-hashed before the next chunk
// is appended, so the side file is never trusted for the hash. A failed write
// truncates KEY.part back to the last byte known good. Partials untouched for
// UploadOptions.Expiry are removed by a sweep that runs on incoming requests
// (and by UploadHandler.Sweep).
//
// Concurrency. One request at a time works on an upload: a second request for
// the same name while one is running gets 409 (one writer per upload). The
// handler is safe for concurrent use across names.

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/internal/httphdr"
	"github.com/mlinkdev/mlink/metalink"
)

// UploadStagingDir is the directory under DIR that holds partial uploads. Its
// name starts with a dot, so download handlers that hide dot-files never serve
// it, and metalink.CheckName refuses it as an upload name.
const UploadStagingDir = ".mlink-uploads"

// Defaults used when the corresponding UploadOptions field is zero.
const (
	// DefaultUploadMaxSize is the largest file accepted (64 GiB).
	DefaultUploadMaxSize = 64 << 30
	// DefaultUploadExpiry is how long an untouched partial upload is kept.
	DefaultUploadExpiry = 24 * time.Hour
	// DefaultUploadMaxPartials caps the partial uploads staged at once.
	DefaultUploadMaxPartials = 100
	// DefaultUploadIdleTimeout is how long a chunk's body may stall before the
	// request is cut (slow-loris uploads, SECURITY.md catalogue B5 case 83).
	DefaultUploadIdleTimeout = 60 * time.Second
)

// MinUploadTokenLength is the shortest bearer token NewUploadHandler accepts
// (16 bytes; tokens of at least 128 random bits are recommended).
const MinUploadTokenLength = 16

// UploadOptions configures an UploadHandler. Only Token is required.
type UploadOptions struct {
	// Token is the bearer token clients must send ("Authorization: Bearer TOKEN").
	// It is compared in constant time. See ReadUploadToken.
	Token string
	// MaxSize is the largest total length accepted (413 beyond); 0 means
	// DefaultUploadMaxSize.
	MaxSize int64
	// Expiry is how long a partial upload may stay untouched before a sweep
	// removes it; 0 means DefaultUploadExpiry.
	Expiry time.Duration
	// MaxPartials caps the partial uploads staged at once (a new upload beyond it
	// gets 429); 0 means DefaultUploadMaxPartials.
	MaxPartials int
	// IdleTimeout cuts a request whose body sends nothing for this long; 0 means
	// DefaultUploadIdleTimeout, negative disables it.
	IdleTimeout time.Duration
	// Overwrite lets a completed upload replace an existing file of the same
	// name. Without it an existing file is never replaced (409).
	Overwrite bool
	// RequireDigest refuses to publish an upload whose client declared no
	// sha-256 (428 on the last chunk; the staged bytes are kept so that a status
	// query carrying the digest can complete it).
	RequireDigest bool
	// OnComplete, if set, is called with the name of each file just published
	// (after the rename and directory fsync), e.g. to put it into a hash cache.
	// Its sha-256 is passed too, as lowercase hex. It runs on the request's
	// goroutine before the 201 is written, so it should be quick.
	OnComplete func(name string, sha256Hex string)
	// Now is the clock used for expiry; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per completed, refused or expired upload; nil
	// discards. The token is never logged.
	Logger *slog.Logger
}

// UploadHandler is an http.Handler for the resumable upload protocol (see the
// package documentation and seed 002). It answers PUT only; mount it so that
// PUT requests for DIR's paths reach it with the URL path equal to "/" + NAME.
type UploadHandler struct {
	// Immutable after NewUploadHandler.
	root     *os.Root
	opts     UploadOptions
	tokenSum [32]byte
	log      *slog.Logger
	now      func() time.Time

	mu        sync.Mutex // guards the fields below
	uploads   map[string]*uploadState
	lastSweep time.Time
}

// uploadState is the in-memory state of one upload. busy is guarded by
// UploadHandler.mu; the other fields belong to the request holding busy.
type uploadState struct {
	key  string
	busy bool

	meta   *uploadMeta // nil: not loaded (or no partial)
	hash   hash.Hash   // sha-256 of the first hashed bytes of KEY.part
	hashed int64
}

// uploadMeta is the side file KEY.json.
type uploadMeta struct {
	Name    string    `json:"name"`
	Total   int64     `json:"total"`
	SHA256  string    `json:"sha256,omitempty"` // declared by the client, lowercase hex
	Created time.Time `json:"created"`
}

// ReadUploadToken reads a bearer token from a file: its content with
// surrounding white space removed. It fails when the token is shorter than
// MinUploadTokenLength or contains white space or control characters.
func ReadUploadToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("upload token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if err := uploadCheckToken(tok); err != nil {
		return "", fmt.Errorf("upload token in %s: %w", file, err)
	}
	return tok, nil
}

func uploadCheckToken(tok string) error {
	if len(tok) < MinUploadTokenLength {
		return fmt.Errorf("token is %d bytes, want at least %d (128 random bits recommended)", len(tok), MinUploadTokenLength)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] == 0x7f {
			return errors.New("token contains white space or a control character")
		}
	}
	return nil
}

// NewUploadHandler returns a handler that stores uploads under dir. dir must
// exist; the staging directory dir/.mlink-uploads is created on the first
// upload. Close the handler to release dir.
func NewUploadHandler(dir string, opts UploadOptions) (*UploadHandler, error) {
	if err := uploadCheckToken(opts.Token); err != nil {
		return nil, fmt.Errorf("upload handler: %w", err)
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultUploadMaxSize
	}
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultUploadExpiry
	}
	if opts.MaxPartials <= 0 {
		opts.MaxPartials = DefaultUploadMaxPartials
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultUploadIdleTimeout
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("upload handler: %w", err)
	}
	h := &UploadHandler{
		root:     root,
		opts:     opts,
		tokenSum: sha256.Sum256([]byte(opts.Token)),
		log:      opts.Logger,
		now:      opts.Now,
		uploads:  map[string]*uploadState{},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.opts.Token = "" // keep only the hash
	return h, nil
}

// Mount returns a handler that sends PUT requests to h and every other
// request to next (the serving Handler of the same directory): how mlink
// serve enables uploads.
func (h *UploadHandler) Mount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close releases the directory. Requests still running may fail.
func (h *UploadHandler) Close() error { return h.root.Close() }

// uploadError is an HTTP answer: status, message, and the received offset to
// report in a Range header (< 1: none).
type uploadError struct {
	status int
	msg    string
	offset int64
	exists bool // a 409 because the name is taken (Upload-Conflict: exists)
}

func uploadExists(e *uploadError) *uploadError { e.exists = true; return e }

// UploadConflictHeader is the response header that tells a 409 for a name that
// is taken ("exists": a file, a directory or a file where a directory should
// be; final) from one for a busy upload or a wrong offset ("busy", "offset",
// worth retrying after a status query).
const UploadConflictHeader = "Upload-Conflict"

func (e *uploadError) Error() string { return e.msg }

func uploadFail(status int, offset int64, format string, a ...any) *uploadError {
	return &uploadError{status: status, msg: fmt.Sprintf(format, a...), offset: offset}
}

// ServeHTTP implements http.Handler.
func (h *UploadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		uploadReply(w, uploadFail(http.StatusMethodNotAllowed, 0, "uploads accept PUT only"))
		return
	}
	if st, msg := h.authorize(r); st != 0 {
		if st == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlink upload"`)
		}
		uploadReply(w, uploadFail(st, 0, "%s", msg))
		return
	}
	h.maybeSweep()
	if e := h.put(w, r); e != nil {
		if e.status >= 500 || e.status == http.StatusUnprocessableEntity {
			h.log.Warn("upload refused", "path", r.URL.Path, "status", e.status, "reason", e.msg)
		}
		uploadReply(w, e)
	}
}

// authorize checks the bearer token; it returns 0 when the request may proceed.
func (h *UploadHandler) authorize(r *http.Request) (int, string) {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return http.StatusUnauthorized, "missing bearer token (Authorization: Bearer TOKEN)"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
		return http.StatusForbidden, "wrong upload token"
	}
	return 0, ""
}

// uploadReply writes an error answer: plain text, with the received range.
func uploadReply(w http.ResponseWriter, e *uploadError) {
	if e.offset > 0 {
		w.Header().Set("Range", "bytes=0-"+strconv.FormatInt(e.offset-1, 10))
	}
	if e.status == http.StatusConflict {
		w.Header().Set("Upload-Offset", strconv.FormatInt(max(e.offset, 0), 10))
		switch {
		case e.exists:
			w.Header().Set(UploadConflictHeader, "exists")
		case strings.HasPrefix(e.msg, "another request"):
			w.Header().Set(UploadConflictHeader, "busy")
		default:
			w.Header().Set(UploadConflictHeader, "offset")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	io.WriteString(w, e.msg+"\n")
}

// errUploadAnswered: the answer has been written already.
var errUploadAnswered = &uploadError{status: http.StatusOK}

// StatusResumeIncomplete is 308, which the resumable upload protocol calls
// "Resume Incomplete" (net/http names it StatusPermanentRedirect).
const StatusResumeIncomplete = 308

// uploadRequest is what the request says, parsed and checked.
type uploadRequest struct {
	name        string
	status      bool  // a status query (bytes */TOTAL)
	whole       bool  // a PUT without Content-Range: the whole file in one request
	first, last int64 // the chunk's range, when !status
	total       int64
	sha256      []byte // declared digest, nil when absent
}

// parse validates the path and headers of r.
func (h *UploadHandler) parse(r *http.Request) (*uploadRequest, *uploadError) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if err := metalink.CheckName(name); err != nil {
		return nil, uploadFail(http.StatusBadRequest, 0, "bad upload path: %v", err)
	}
	q := &uploadRequest{name: name}
	sum, err := uploadDeclaredSHA256(r.Header)
	if err != nil {
		return nil, uploadFail(http.StatusBadRequest, 0, "%v", err)
	}
	q.sha256 = sum
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		// A whole-file PUT.
		if r.ContentLength < 0 {
			return nil, uploadFail(http.StatusLengthRequired, 0, "a PUT without Content-Range needs a Content-Length")
		}
		q.first, q.last, q.total, q.whole = 0, r.ContentLength-1, r.ContentLength, true
	} else {
		first, last, total, err := httphdr.ParseContentRange(cr)
		if err != nil {
			return nil, uploadFail(http.StatusBadRequest, 0, "%v", err)
		}
		if total < 0 {
			return nil, uploadFail(http.StatusBadRequest, 0, "Content-Range %q: the total length must be given", cr)
		}
		q.first, q.last, q.total = first, last, total
		if first < 0 {
			q.status = true
			if r.ContentLength > 0 {
				return nil, uploadFail(http.StatusBadRequest, 0, "a status query (Content-Range: bytes */N) must have an empty body")
			}
		} else if r.ContentLength >= 0 && r.ContentLength != last-first+1 {
			return nil, uploadFail(http.StatusBadRequest, 0, "Content-Length %d does not match Content-Range %q", r.ContentLength, cr)
		}
	}
	if q.total > h.opts.MaxSize {
		return nil, uploadFail(http.StatusRequestEntityTooLarge, 0, "upload of %d bytes is larger than the limit of %d bytes", q.total, h.opts.MaxSize)
	}
	return q, nil
}

// uploadDeclaredSHA256 returns the sha-256 the client declared in Repr-Digest
// (RFC 9530) or Digest (RFC 3230), nil when neither names sha-256, or an error
// for a malformed or contradictory value.
func uploadDeclaredSHA256(hd http.Header) ([]byte, error) {
	var found []byte
	add := func(field, b64 string) error {
		v, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(v) != sha256.Size {
			return fmt.Errorf("%s: sha-256 value is not %d bytes of base64", field, sha256.Size)
		}
		if found != nil && !bytes.Equal(found, v) {
			return fmt.Errorf("%s: two different sha-256 values declared", field)
		}
		found = v
		return nil
	}
	for _, line := range hd.Values("Repr-Digest") {
		for member := range strings.SplitSeq(line, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(member), "=")
			if k != "sha-256" {
				continue
			}
			if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
				return nil, errors.New("Repr-Digest: sha-256 value must be a byte sequence :BASE64:")
			}
			if err := add("Repr-Digest", v[1:len(v)-1]); err != nil {
				return nil, err
			}
		}
	}
	for _, line := range hd.Values("Digest") {
		for member := range strings.SplitSeq(line, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(member), "=")
			if !strings.EqualFold(k, "sha-256") {
				continue
			}
			if err := add("Digest", v); err != nil {
				return nil, err
			}
		}
	}
	return found, nil
}

// uploadReprDigest formats a sha-256 as a Repr-Digest value.
func uploadReprDigest(sum []byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}

func uploadKey(name string) string {
	s := sha256.Sum256([]byte("mlink upload\x00" + name))
	return hex.EncodeToString(s[:16])
}

func uploadPartPath(key string) string { return UploadStagingDir + "/" + key + ".part" }
func uploadMetaPath(key string) string { return UploadStagingDir + "/" + key + ".json" }

// acquire marks the upload of key busy; it fails with 409 when another request
// holds it.
func (h *UploadHandler) acquire(key string) (*uploadState, *uploadError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.uploads[key]
	if st == nil {
		st = &uploadState{key: key}
		h.uploads[key] = st
	}
	if st.busy {
		return nil, uploadFail(http.StatusConflict, 0, "another request is writing this upload; retry when it has ended")
	}
	st.busy = true
	return st, nil
}

// release ends a request's hold on st. A state without a running hash is
// dropped from memory (the disk holds everything about it).
func (h *UploadHandler) release(st *uploadState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st.busy = false
	if st.hash == nil {
		delete(h.uploads, st.key)
	}
}

// forget drops st's in-memory hash (after completion or on a disk error).
func (st *uploadState) forget() {
	st.meta, st.hash, st.hashed = nil, nil, 0
}

// put handles one authorized PUT.
func (h *UploadHandler) put(w http.ResponseWriter, r *http.Request) *uploadError {
	q, e := h.parse(r)
	if e != nil {
		return e
	}
	st, e := h.acquire(uploadKey(q.name))
	if e != nil {
		return e
	}
	defer h.release(st)

	meta, offset, err := h.loadPartial(st, q.name)
	if err != nil {
		return uploadFail(http.StatusInternalServerError, 0, "reading staged upload of %s: %v", q.name, err)
	}
	if meta != nil && q.whole {
		// A whole-file PUT starts over: what an earlier attempt staged is dropped.
		h.removePartial(st.key)
		st.forget()
		meta, offset = nil, 0
	}
	if meta == nil {
		// No partial upload: a new one, or a status query about a finished one.
		if e := h.checkTarget(w, q); e != nil {
			if e == errUploadAnswered {
				return nil
			}
			return e
		}
		if q.status {
			w.Header().Set("Content-Length", "0")
			w.Header().Set("Upload-Offset", "0")
			w.WriteHeader(StatusResumeIncomplete)
			return nil
		}
		if q.first != 0 {
			return uploadFail(http.StatusConflict, 0, "chunk starts at %d but nothing of %s has been received", q.first, q.name)
		}
		if meta, err = h.create(st, q); err != nil {
			var ue *uploadError
			if errors.As(err, &ue) {
				return ue
			}
			return uploadFail(http.StatusInternalServerError, 0, "staging upload of %s: %v", q.name, err)
		}
	} else {
		if meta.Total != q.total {
			return uploadFail(http.StatusBadRequest, offset, "total length changed: the upload of %s was started with %d bytes, this request says %d", q.name, meta.Total, q.total)
		}
		if q.sha256 != nil {
			got := hex.EncodeToString(q.sha256)
			if meta.SHA256 != "" && meta.SHA256 != got {
				return uploadFail(http.StatusBadRequest, offset, "declared sha-256 changed during the upload of %s", q.name)
			}
			if meta.SHA256 == "" {
				meta.SHA256 = got
				if err := h.writeMeta(st.key, meta); err != nil {
					return uploadFail(http.StatusInternalServerError, offset, "staging upload of %s: %v", q.name, err)
				}
			}
		}
	}

	if q.status {
		if offset == meta.Total {
			return h.complete(w, st, meta)
		}
		w.Header().Set("Content-Length", "0")
		if offset > 0 {
			w.Header().Set("Range", "bytes=0-"+strconv.FormatInt(offset-1, 10))
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(offset, 10))
		w.WriteHeader(StatusResumeIncomplete)
		return nil
	}
	if q.first != offset {
		return uploadFail(http.StatusConflict, offset, "chunk starts at %d but the server has %d bytes of %s; resume from %d", q.first, offset, q.name, offset)
	}
	if meta.Total > 0 {
		n, err := h.receive(w, r, st, offset, q.last-q.first+1)
		offset += n
		if err != nil {
			return err
		}
	}
	if offset < meta.Total {
		w.Header().Set("Content-Length", "0")
		w.Header().Set("Range", "bytes=0-"+strconv.FormatInt(offset-1, 10))
		w.Header().Set("Upload-Offset", strconv.FormatInt(offset, 10))
		w.WriteHeader(StatusResumeIncomplete)
		return nil
	}
	return h.complete(w, st, meta)
}

// loadPartial returns the partial upload's metadata and received offset, or a
// nil meta when there is none.
func (h *UploadHandler) loadPartial(st *uploadState, name string) (*uploadMeta, int64, error) {
	if st.meta == nil {
		b, err := h.root.ReadFile(uploadMetaPath(st.key))
		if errors.Is(err, fs.ErrNotExist) {
			st.forget()
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		var m uploadMeta
		if err := json.Unmarshal(b, &m); err != nil || m.Name != name || m.Total < 0 {
			// A damaged or foreign side file: drop the partial, start afresh.
			h.removePartial(st.key)
			st.forget()
			return nil, 0, nil
		}
		st.meta = &m
	}
	fi, err := h.root.Stat(uploadPartPath(st.key))
	if errors.Is(err, fs.ErrNotExist) {
		h.removePartial(st.key)
		st.forget()
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() > st.meta.Total {
		h.removePartial(st.key)
		st.forget()
		return nil, 0, nil
	}
	return st.meta, fi.Size(), nil
}

// checkTarget answers for an upload with no partial: 409 when the final name
// is taken and may not be replaced, except for a status query about a file
// that has the announced length, which gets 200 with its Repr-Digest so that
// a client whose 201 was lost can tell its upload has completed.
func (h *UploadHandler) checkTarget(w http.ResponseWriter, q *uploadRequest) *uploadError {
	fi, err := h.root.Lstat(q.name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		if uploadIsEscape(err) {
			return uploadFail(http.StatusBadRequest, 0, "bad upload path %q: it leaves the served directory", q.name)
		}
		// e.g. ENOTDIR: a parent is a file.
		return uploadExists(uploadFail(http.StatusConflict, 0, "cannot upload to %s: %v", q.name, uploadBareErr(err)))
	}
	if !fi.Mode().IsRegular() {
		return uploadExists(uploadFail(http.StatusConflict, 0, "%s exists and is not a regular file", q.name))
	}
	if h.opts.Overwrite {
		return nil
	}
	if q.status && fi.Size() == q.total {
		f, err := h.root.Open(q.name)
		if err != nil {
			return uploadFail(http.StatusInternalServerError, 0, "reading %s: %v", q.name, uploadBareErr(err))
		}
		sum, _, err := digest.Reader("sha-256", f)
		f.Close()
		if err != nil {
			return uploadFail(http.StatusInternalServerError, 0, "reading %s: %v", q.name, uploadBareErr(err))
		}
		w.Header().Set("Repr-Digest", uploadReprDigest(sum))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return errUploadAnswered
	}
	return uploadExists(uploadFail(http.StatusConflict, 0, "%s already exists (%d bytes) and the server does not replace files", q.name, fi.Size()))
}

// create stages a new upload: the side file and an empty KEY.part.
func (h *UploadHandler) create(st *uploadState, q *uploadRequest) (*uploadMeta, error) {
	if err := h.root.Mkdir(UploadStagingDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, uploadBareErr(err)
	}
	if n, err := h.countPartials(); err != nil {
		return nil, err
	} else if n >= h.opts.MaxPartials {
		return nil, uploadFail(http.StatusTooManyRequests, 0, "too many partial uploads in progress (%d); finish or let them expire", n)
	}
	m := &uploadMeta{Name: q.name, Total: q.total, Created: h.now().UTC()}
	if q.sha256 != nil {
		m.SHA256 = hex.EncodeToString(q.sha256)
	}
	f, err := h.root.OpenFile(uploadPartPath(st.key), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, uploadBareErr(err)
	}
	f.Close()
	if err := h.writeMeta(st.key, m); err != nil {
		h.removePartial(st.key)
		return nil, err
	}
	st.meta, st.hash, st.hashed = m, sha256.New(), 0
	return m, nil
}

func (h *UploadHandler) countPartials() (int, error) {
	d, err := h.root.Open(UploadStagingDir)
	if err != nil {
		return 0, uploadBareErr(err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, uploadBareErr(err)
	}
	n := 0
	for _, s := range names {
		if strings.HasSuffix(s, ".json") {
			n++
		}
	}
	return n, nil
}

// writeMeta replaces KEY.json atomically.
func (h *UploadHandler) writeMeta(key string, m *uploadMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := uploadMetaPath(key) + ".tmp"
	if err := h.root.WriteFile(tmp, b, 0o600); err != nil {
		return uploadBareErr(err)
	}
	if err := h.root.Rename(tmp, uploadMetaPath(key)); err != nil {
		h.root.Remove(tmp)
		return uploadBareErr(err)
	}
	return nil
}

// removePartial deletes the staged files of key (errors ignored: the sweep retries).
func (h *UploadHandler) removePartial(key string) {
	h.root.Remove(uploadPartPath(key))
	h.root.Remove(uploadMetaPath(key))
	h.root.Remove(uploadMetaPath(key) + ".tmp")
}

// catchUp makes st.hash cover exactly the first offset bytes of KEY.part,
// re-hashing the staged file when the in-memory hash is missing or out of step.
func (h *UploadHandler) catchUp(st *uploadState, f *os.File, offset int64) error {
	if st.hash != nil && st.hashed == offset {
		return nil
	}
	hh := sha256.New()
	buf := digest.GetBuffer()
	defer digest.PutBuffer(buf)
	n, err := io.CopyBuffer(hh, io.NewSectionReader(f, 0, offset), *buf)
	if err != nil || n != offset {
		st.hash = nil
		return fmt.Errorf("re-hashing staged bytes: read %d of %d: %v", n, offset, err)
	}
	st.hash, st.hashed = hh, offset
	return nil
}

// receive appends up to n bytes of r's body to KEY.part at offset, hashing them
// as they land. It returns the number of bytes now durably appended (kept even
// when the body ends early, so that a resumed upload need not resend them).
func (h *UploadHandler) receive(w http.ResponseWriter, r *http.Request, st *uploadState, offset, n int64) (int64, *uploadError) {
	f, err := h.root.OpenFile(uploadPartPath(st.key), os.O_RDWR, 0)
	if err != nil {
		return 0, uploadFail(http.StatusInternalServerError, offset, "opening staged upload: %v", uploadBareErr(err))
	}
	defer f.Close()
	if err := h.catchUp(st, f, offset); err != nil {
		return 0, uploadFail(http.StatusInternalServerError, offset, "%v", err)
	}
	rc := http.NewResponseController(w)
	idle := h.opts.IdleTimeout
	ok := false
	if idle > 0 {
		defer func() {
			if ok {
				rc.SetReadDeadline(time.Time{})
				return
			}
			// The body is broken or stalled: no more reads (net/http would
			// otherwise wait to drain it), and no keep-alive.
			rc.SetReadDeadline(time.Unix(1, 0))
		}()
	}
	buf := digest.GetBuffer()
	defer digest.PutBuffer(buf)
	var got int64
	for got < n {
		if idle > 0 {
			_ = rc.SetReadDeadline(time.Now().Add(idle))
		}
		m, rerr := r.Body.Read((*buf)[:min(int64(len(*buf)), n-got)])
		if m > 0 {
			if _, werr := f.WriteAt((*buf)[:m], offset+got); werr != nil {
				// Drop whatever part of this write landed: the file ends at the last good byte.
				f.Truncate(offset + got)
				st.hash = nil
				status := http.StatusInternalServerError
				if errors.Is(werr, syscall.ENOSPC) || errors.Is(werr, syscall.EDQUOT) {
					status = http.StatusInsufficientStorage
				}
				return got, uploadFail(status, offset+got, "writing staged upload: %v", uploadBareErr(werr))
			}
			st.hash.Write((*buf)[:m])
			got += int64(m)
			st.hashed = offset + got
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Header().Set("Connection", "close")
			h.log.Info("upload body interrupted", "name", st.meta.Name, "received", offset+got, "total", st.meta.Total, "err", rerr)
			return got, uploadFail(http.StatusBadRequest, offset+got, "request body interrupted after %d of %d bytes: %v", got, n, rerr)
		}
	}
	if got < n {
		return got, uploadFail(http.StatusBadRequest, offset+got, "request body ended after %d of %d bytes", got, n)
	}
	// A chunked body must not carry more than the range says.
	var one [1]byte
	if m, _ := r.Body.Read(one[:]); m > 0 {
		w.Header().Set("Connection", "close")
		return got, uploadFail(http.StatusBadRequest, offset+got, "request body is longer than its Content-Range")
	}
	ok = true
	return got, nil
}

// complete verifies the staged file's sha-256 and publishes it atomically.
func (h *UploadHandler) complete(w http.ResponseWriter, st *uploadState, meta *uploadMeta) *uploadError {
	name, total := meta.Name, meta.Total
	f, err := h.root.OpenFile(uploadPartPath(st.key), os.O_RDWR, 0)
	if err != nil {
		return uploadFail(http.StatusInternalServerError, total, "opening staged upload: %v", uploadBareErr(err))
	}
	defer f.Close()
	if err := h.catchUp(st, f, total); err != nil {
		return uploadFail(http.StatusInternalServerError, total, "%v", err)
	}
	sum := st.hash.Sum(nil)
	sumHex := hex.EncodeToString(sum)
	if meta.SHA256 == "" && h.opts.RequireDigest {
		return uploadFail(http.StatusPreconditionRequired, total,
			"all %d bytes of %s received, but this server publishes only uploads whose sha-256 the client declares (Repr-Digest: sha-256=:BASE64:); send a status query with it", total, name)
	}
	if meta.SHA256 != "" && meta.SHA256 != sumHex {
		f.Close()
		h.removePartial(st.key)
		st.forget()
		h.log.Warn("upload discarded: sha-256 mismatch", "name", name, "declared", meta.SHA256, "received", sumHex)
		return uploadFail(http.StatusUnprocessableEntity, 0,
			"sha-256 mismatch for %s: the client declared %s but the %d bytes received hash to %s; the upload was discarded and nothing was published",
			name, meta.SHA256, total, sumHex)
	}
	if err := f.Sync(); err != nil {
		return uploadFail(http.StatusInternalServerError, total, "fsync of staged upload: %v", uploadBareErr(err))
	}
	f.Close()
	if e := h.publish(st.key, name); e != nil {
		return e
	}
	st.forget()
	h.log.Info("upload published", "name", name, "size", total, "sha256", sumHex)
	if h.opts.OnComplete != nil {
		h.opts.OnComplete(name, sumHex)
	}
	w.Header().Set("Repr-Digest", uploadReprDigest(sum))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "created %s (%d bytes, sha-256 %s)\n", name, total, sumHex)
	return nil
}

// publish moves KEY.part to name: a hard link (which never replaces) followed
// by removing the staged name, or a rename when Overwrite is set or the file
// system has no hard links; then the directory is fsynced.
func (h *UploadHandler) publish(key, name string) *uploadError {
	dir := path.Dir(name)
	if dir != "." {
		if err := h.root.MkdirAll(dir, 0o755); err != nil {
			if uploadIsEscape(err) {
				return uploadFail(http.StatusBadRequest, 0, "bad upload path %q: it leaves the served directory", name)
			}
			return uploadFail(http.StatusConflict, 0, "cannot create the directory of %s: %v", name, uploadBareErr(err))
		}
	}
	part := uploadPartPath(key)
	exists := func() *uploadError {
		return uploadExists(uploadFail(http.StatusConflict, 0, "%s appeared while it was being uploaded and the server does not replace files; the upload was kept staged", name))
	}
	if h.opts.Overwrite {
		if fi, err := h.root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
			return uploadFail(http.StatusConflict, 0, "%s exists and is not a regular file", name)
		}
		if err := h.root.Rename(part, name); err != nil {
			return h.publishErr(name, err)
		}
	} else {
		err := h.root.Link(part, name)
		switch {
		case err == nil:
			h.root.Remove(part)
		case errors.Is(err, fs.ErrExist):
			// Already linked by an attempt that stopped before removing the
			// staged name (a crash): that is success.
			a, err1 := h.root.Lstat(part)
			b, err2 := h.root.Lstat(name)
			if err1 != nil || err2 != nil || !os.SameFile(a, b) {
				return exists()
			}
			h.root.Remove(part)
		case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EMLINK):
			// No hard links here: check, then rename (racy only against writers outside this handler).
			if _, err := h.root.Lstat(name); err == nil {
				return exists()
			}
			if err := h.root.Rename(part, name); err != nil {
				return h.publishErr(name, err)
			}
		default:
			return h.publishErr(name, err)
		}
	}
	h.root.Remove(uploadMetaPath(key))
	if d, err := h.root.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (h *UploadHandler) publishErr(name string, err error) *uploadError {
	if uploadIsEscape(err) {
		return uploadFail(http.StatusBadRequest, 0, "bad upload path %q: it leaves the served directory", name)
	}
	return uploadFail(http.StatusInternalServerError, 0, "publishing %s: %v", name, uploadBareErr(err))
}

// uploadIsEscape reports an os.Root refusal: a symlink or ".." leading out of DIR.
func uploadIsEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// uploadBareErr strips the *PathError's path (which names the server's
// directory layout) from errors sent to clients.
func uploadBareErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}

// maybeSweep runs Sweep at most once per Expiry/4 (and at most once a minute).
func (h *UploadHandler) maybeSweep() {
	now := h.now()
	h.mu.Lock()
	due := now.Sub(h.lastSweep) >= min(h.opts.Expiry/4, time.Minute)
	if due {
		h.lastSweep = now
	}
	h.mu.Unlock()
	if due {
		if _, err := h.Sweep(); err != nil {
			h.log.Warn("upload sweep", "err", err)
		}
	}
}

// Sweep removes partial uploads untouched for longer than Expiry (by the
// modification time of their staged files) and returns how many it removed.
// Uploads with a request in progress are skipped. Requests call it on their
// own from time to time; a server may also call it from a ticker.
func (h *UploadHandler) Sweep() (int, error) {
	d, err := h.root.Open(UploadStagingDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, uploadBareErr(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, uploadBareErr(err)
	}
	keys := map[string]bool{}
	for _, n := range names {
		if k, _, ok := strings.Cut(n, "."); ok && len(k) == 32 {
			keys[k] = true
		}
	}
	cutoff := h.now().Add(-h.opts.Expiry)
	removed := 0
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range keys {
		if st := h.uploads[k]; st != nil && st.busy {
			continue
		}
		newest := time.Time{}
		for _, p := range []string{uploadPartPath(k), uploadMetaPath(k)} {
			if fi, err := h.root.Lstat(p); err == nil && fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		}
		if newest.After(cutoff) {
			continue
		}
		h.removePartial(k)
		delete(h.uploads, k)
		removed++
		h.log.Info("partial upload expired", "key", k, "last_write", newest)
	}
	return removed, nil
}
