package publish

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/internal/httphdr"
	"github.com/mlinkdev/mlink/metalink"
)

// setMetalinkHeaders adds the RFC 6249 and RFC 9530 header fields of a file
// response: Link rel=duplicate for the best mirrors, Link rel=describedby to
// the file's metalink, Digest (RFC 3230: SHA-256, plus SHA-512 when
// Want-Digest asks for it) and Repr-Digest (RFC 9530, honouring
// Want-Repr-Digest).
func (h *Handler) setMetalinkHeaders(hd http.Header, r *http.Request, name string, s *fileSums) {
	for _, m := range h.linkMirrors() {
		u, err := MirrorURL(m.URL, name)
		if err != nil {
			continue
		}
		l := httphdr.Link{URL: u, Rel: "duplicate", Params: map[string]string{}}
		if m.Priority > 0 {
			l.Params["pri"] = strconv.Itoa(m.Priority)
		}
		if m.Location != "" {
			l.Params["geo"] = strings.ToLower(m.Location)
		}
		hd.Add("Link", httphdr.FormatLink(l))
	}
	hd.Add("Link", httphdr.FormatLink(httphdr.Link{URL: h.metaRef(r, name), Rel: "describedby", Params: map[string]string{"type": mediaMeta4}}))

	var digests []httphdr.Digest
	for _, alg := range wantedDigests(r.Header.Values("Want-Digest"), s) {
		digests = append(digests, httphdr.Digest{Algorithm: alg, Value: s.raw[alg]})
	}
	hd.Set("Digest", httphdr.FormatDigest(digests...))

	digests = digests[:0]
	for _, alg := range wantedReprDigests(r.Header.Values("Want-Repr-Digest"), s) {
		digests = append(digests, httphdr.Digest{Algorithm: alg, Value: s.raw[alg]})
	}
	hd.Set("Repr-Digest", httphdr.FormatReprDigest(digests...))
}

// linkMirrors returns the mirrors announced in Link fields: the
// LinkMirrors best by priority (unset priority last), in priority order.
func (h *Handler) linkMirrors() []Mirror {
	n := h.opts.LinkMirrors
	switch {
	case n == 0:
		n = DefaultLinkMirrors
	case n < 0:
		return nil
	}
	ms := sortedMirrors(h.opts.Mirrors)
	return ms[:min(n, len(ms))]
}

func sortedMirrors(in []Mirror) []Mirror {
	ms := slices.Clone(in)
	pri := func(m Mirror) int {
		if m.Priority <= 0 {
			return 999999
		}
		return m.Priority
	}
	slices.SortStableFunc(ms, func(a, b Mirror) int { return cmp.Compare(pri(a), pri(b)) })
	return ms
}

// digestAlgs are the algorithms the handler can announce in Digest and
// Repr-Digest, in the order they are sent when several are.
var digestAlgs = []string{"sha-256", "sha-512"}

// wantedDigests lists the algorithms for the Digest field: always sha-256
// (RFC 6249 requires it), and sha-512 when a Want-Digest field asks for it
// with a non-zero q and the hash is known. A malformed Want-Digest is ignored.
func wantedDigests(want []string, s *fileSums) []string {
	out := []string{"sha-256"}
	if len(want) == 0 {
		return out
	}
	wants, err := httphdr.ParseWantDigest(strings.Join(want, ", "))
	if err != nil {
		return out
	}
	if httphdr.Wanted(wants, "sha-512") && s.raw["sha-512"] != nil {
		out = append(out, "sha-512")
	}
	return out
}

// wantedReprDigests lists the algorithms for Repr-Digest: those a
// Want-Repr-Digest field asks for (non-zero preference, best first) that are
// known, or sha-256 when the field is absent, malformed or names none of them.
func wantedReprDigests(want []string, s *fileSums) []string {
	var out []string
	if len(want) > 0 {
		if wants, err := httphdr.ParseWantReprDigest(strings.Join(want, ", ")); err == nil {
			for _, w := range wants {
				if w.Supported && w.Weight > 0 && slices.Contains(digestAlgs, w.Algorithm) &&
					s.raw[w.Algorithm] != nil && !slices.Contains(out, w.Algorithm) {
					out = append(out, w.Algorithm)
				}
			}
		}
	}
	if len(out) == 0 {
		out = []string{"sha-256"}
	}
	return out
}

// splitList splits comma-separated header field values into trimmed,
// non-empty items.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// escapeName escapes each component of a slash path for a URL path.
func escapeName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// metaRef is the reference to the metalink of name for the describedby Link:
// absolute under BaseURL when it is set, otherwise relative to the file's
// own URL (so the client's Host is never echoed back).
func (h *Handler) metaRef(r *http.Request, name string) string {
	if h.opts.BaseURL != "" {
		return h.opts.BaseURL + escapeName(name) + ".meta4"
	}
	return url.PathEscape(path.Base(name)) + ".meta4"
}

// selfBase is the URL of the served directory: BaseURL, or the request's
// scheme and Host (with the port the request arrived on when Host has none).
// Behind a reverse proxy, set BaseURL.
func (h *Handler) selfBase(r *http.Request) string {
	if h.opts.BaseURL != "" {
		return h.opts.BaseURL
	}
	scheme, defPort := "http", "80"
	if r.TLS != nil {
		scheme, defPort = "https", "443"
	}
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil && host != "" {
		// No port in Host. Some clients (wget2 2.x) leave out a non-default
		// port; the port the request arrived on is then the right one.
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if _, port, err := net.SplitHostPort(la.String()); err == nil && port != defPort {
				host = net.JoinHostPort(strings.Trim(host, "[]"), port)
			}
		}
	}
	return scheme + "://" + host + "/"
}

// negotiateMetalink picks a metalink format from Accept field values: v4
// when application/metalink4+xml is listed with q > 0, else v3 when
// application/metalink+xml is; "" otherwise.
func negotiateMetalink(accept []string) metalink.Format {
	var v3 bool
	for _, item := range splitList(accept) {
		mt, params, err := mime.ParseMediaType(item)
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
				continue
			}
		}
		switch mt {
		case mediaMeta4:
			return metalink.FormatV4
		case mediaMetalink:
			v3 = true
		}
	}
	if v3 {
		return metalink.FormatV3
	}
	return ""
}

// buildMetalink describes the file name: its size, hashes and piece hashes,
// every configured mirror, and this server last; origin is the metalink's
// own URL on this server, dynamic.
func (h *Handler) buildMetalink(r *http.Request, name string, s *fileSums, format metalink.Format) *metalink.Metalink {
	f := *s.file
	f.Name = path.Base(name)
	f.Size = s.size
	f.URLs = nil
	maxPri := 0
	for _, m := range sortedMirrors(h.opts.Mirrors) {
		u, err := MirrorURL(m.URL, name)
		if err != nil {
			continue
		}
		f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: m.Priority, Location: strings.ToLower(m.Location)})
		maxPri = max(maxPri, m.Priority)
	}
	self := h.selfBase(r) + escapeName(name)
	f.URLs = append(f.URLs, metalink.URL{URL: self, Priority: min(maxPri+1, 999999)})
	ext := ".meta4"
	if format == metalink.FormatV3 {
		ext = ".metalink"
	}
	return &metalink.Metalink{
		Format:    format,
		Generator: h.opts.Generator,
		Origin:    self + ext,
		Dynamic:   true,
		Published: s.modTime.UTC().Truncate(time.Second),
		Files:     []metalink.File{f},
	}
}

// serveMetalink answers with the metalink of the regular file name.
// negotiated marks a response to a GET of the file itself (Accept
// negotiation), which gets a Content-Location.
func (h *Handler) serveMetalink(w *serveWriter, r *http.Request, name string, format metalink.Format, negotiated bool) {
	if err := metalink.CheckName(path.Base(name)); err != nil {
		// A name no metalink client may save under (CON, "a:b", "x "...).
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "no metalink for an unportable name", slog.String("name", name), slog.String("error", err.Error()))
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	f, err := h.root.Open(name)
	if err != nil {
		h.fileError(w, r, name, err)
		return
	}
	st, err := f.Stat()
	f.Close()
	if err != nil || !st.Mode().IsRegular() {
		h.fileError(w, r, name, err)
		return
	}
	s, err := h.sums.get(r.Context(), name, st)
	if err != nil {
		if r.Context().Err() != nil {
			w.status = 499
			return
		}
		h.log.LogAttrs(r.Context(), slog.LevelError, "hashing failed", slog.String("name", name), slog.String("error", err.Error()))
		http.Error(w, "cannot hash the file", http.StatusServiceUnavailable)
		return
	}
	w.extend() // hashing a large file may have taken longer than the stall timeout
	var buf bytes.Buffer
	if err := metalink.Encode(&buf, h.buildMetalink(r, name, s, format), format); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "encoding metalink failed", slog.String("name", name), slog.String("error", err.Error()))
		http.Error(w, "cannot write the metalink", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	ct, ext := mediaMeta4, ".meta4"
	if format == metalink.FormatV3 {
		ct, ext = mediaMetalink, ".metalink"
	}
	hd.Set("Content-Type", ct)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	if negotiated {
		hd.Set("Content-Location", url.PathEscape(path.Base(name))+ext)
	}
	// The document changes with the file and with the mirror list, so it is
	// tagged by its own bytes.
	docSum := sha256.Sum256(buf.Bytes())
	hd.Set("ETag", `"meta-`+base64.RawURLEncoding.EncodeToString(docSum[:18])+`"`)
	if r.Header.Get("Range") != "" {
		r = withRange(r, "") // generated documents are sent whole
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
}
