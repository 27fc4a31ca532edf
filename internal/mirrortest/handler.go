package mirrortest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlinkdev/mlink/internal/httphdr"
	"golang.org/x/time/rate"
)

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func (m *Mirror) serveHTTP(w http.ResponseWriter, r *http.Request) {
	m.record(r)
	if m.dead.Load() {
		panic(errAbort)
	}
	ctx, done := m.requestContext(r)
	defer done()
	cfg := m.cfg

	if cfg.latency > 0 {
		t := time.NewTimer(cfg.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			panic(errAbort)
		}
	}
	if cfg.stallHeaders {
		<-ctx.Done()
		panic(errAbort)
	}
	if cfg.hugeHeader > 0 {
		w.Header().Set("X-Huge", strings.Repeat("h", cfg.hugeHeader))
	}
	if cfg.earlyHints {
		w.Header().Set("Link", `</evil.bin>; rel=preload`)
		w.Header().Set("Content-Disposition", `attachment; filename="../../evil"`)
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Del("Content-Disposition")
	}

	// Redirects.
	if cfg.redirectLoop {
		hop, _ := strconv.Atoi(r.URL.Query().Get("hop"))
		m.redirect(w, r, r.URL.Path+"?hop="+strconv.Itoa(hop+1))
		return
	}
	if t, ok := cfg.redirects[r.URL.Path]; ok {
		m.redirect(w, r, t)
		return
	}
	f := m.file(r.URL.Path)
	if f != nil && cfg.redirectAll != "" {
		m.redirect(w, r, cfg.redirectAll)
		return
	}
	if cfg.failStatus != 0 && (cfg.failFirst <= 0 || m.fails.Add(1) <= int64(cfg.failFirst)) {
		if cfg.retryAfter != "" {
			w.Header().Set("Retry-After", cfg.retryAfter)
		}
		m.countStatus(cfg.failStatus)
		http.Error(w, http.StatusText(cfg.failStatus), cfg.failStatus)
		return
	}
	if f == nil {
		m.countStatus(http.StatusNotFound)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.countStatus(http.StatusMethodNotAllowed)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	for k, vs := range cfg.extraHeaders {
		w.Header()[k] = append(w.Header()[k], vs...)
	}
	rw := m.newRespWriter(ctx, w)

	rangeHdr := r.Header.Get("Range")
	var single *httphdr.ByteRange
	if rangeHdr != "" && !cfg.ignoreRange {
		if rs, err := httphdr.ParseRange(rangeHdr, f.size); err == nil && len(rs) == 1 {
			single = &rs[0]
		}
	}
	switch {
	case cfg.badLength != 0 && r.Method == http.MethodGet:
		m.badFraming(w, f, single)
		return
	case cfg.longBody > 0 && single != nil && r.Method == http.MethodGet:
		m.longBody(w, f, *single)
		return
	case cfg.multipart && single != nil:
		m.multipartSingle(rw, r, f, *single)
		return
	case cfg.gzip:
		m.gzipped(rw, r, f, single)
		return
	}
	if cfg.ignoreRange {
		r.Header.Del("Range")
		r.Header.Del("If-Range")
	}
	if f.etag != "" {
		w.Header().Set("ETag", f.etag)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if cfg.slowClose > 0 {
		w.Header().Set("Connection", "close")
	}
	http.ServeContent(rw, r, "", f.modTime, io.NewSectionReader(f, 0, f.size))
	if cfg.slowClose > 0 && r.Method == http.MethodGet {
		m.slowClose(ctx, w)
	}
}

// slowClose flushes the response, half-closes the connection and keeps it for
// cfg.slowClose (or until the mirror closes) before closing it.
func (m *Mirror) slowClose(ctx context.Context, w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	raw := c
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		raw = tc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	t := time.NewTimer(m.cfg.slowClose)
	defer t.Stop()
	select {
	case <-t.C:
	case <-m.ctx.Done():
	}
}

func (m *Mirror) redirect(w http.ResponseWriter, r *http.Request, target string) {
	m.countStatus(m.cfg.redirectCode)
	w.Header().Set("Location", target) // set raw: http.Redirect would clean file:// targets
	w.WriteHeader(m.cfg.redirectCode)
}

// section returns the bytes of rg (or the whole file when rg is nil) and the status.
func section(f *served, rg *httphdr.ByteRange) ([]byte, int, error) {
	off, n, status := int64(0), f.size, http.StatusOK
	if rg != nil {
		off, n, status = rg.Start, rg.Length, http.StatusPartialContent
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, 0, err
	}
	return b, status, nil
}

func (m *Mirror) multipartSingle(rw *respWriter, r *http.Request, f *served, rg httphdr.ByteRange) {
	body, _, err := section(f, &rg)
	if err != nil {
		panic(errAbort)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Range", rg.ContentRange(f.size))
	pw, _ := mw.CreatePart(h)
	pw.Write(body)
	mw.Close()
	rw.Header().Set("Content-Type", "multipart/byteranges; boundary="+mw.Boundary())
	rw.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	rw.WriteHeader(http.StatusPartialContent)
	if r.Method == http.MethodGet {
		rw.Write(buf.Bytes())
	}
}

func (m *Mirror) gzipped(rw *respWriter, r *http.Request, f *served, rg *httphdr.ByteRange) {
	body, status, err := section(f, rg)
	if err != nil {
		panic(errAbort)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(body)
	zw.Close()
	rw.Header().Set("Content-Encoding", "gzip")
	rw.Header().Set("Content-Type", "application/octet-stream")
	rw.Header().Set("Accept-Ranges", "bytes")
	rw.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	if rg != nil {
		rw.Header().Set("Content-Range", rg.ContentRange(f.size))
	}
	rw.WriteHeader(status)
	if r.Method == http.MethodGet {
		rw.Write(buf.Bytes())
	}
}

// rawResponse writes a response byte for byte on the hijacked connection, then closes it.
func (m *Mirror) rawResponse(w http.ResponseWriter, status int, header []string, body []byte) {
	m.countStatus(status)
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(errAbort)
	}
	c, bw, err := hj.Hijack()
	if err != nil {
		panic(errAbort)
	}
	defer c.Close()
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for _, h := range header {
		bw.WriteString(h + "\r\n")
	}
	bw.WriteString("\r\n")
	n, _ := bw.Write(body)
	bw.Flush()
	m.bytes.Add(int64(n))
}

func (m *Mirror) longBody(w http.ResponseWriter, f *served, rg httphdr.ByteRange) {
	body, _, err := section(f, &rg)
	if err != nil {
		panic(errAbort)
	}
	body = append(body, bytes.Repeat([]byte{'Z'}, int(m.cfg.longBody))...)
	m.rawResponse(w, http.StatusPartialContent, []string{
		"Content-Range: " + rg.ContentRange(f.size),
		"Content-Type: application/octet-stream",
		"Connection: close",
	}, body)
}

func (m *Mirror) badFraming(w http.ResponseWriter, f *served, rg *httphdr.ByteRange) {
	body, status, err := section(f, rg)
	if err != nil {
		panic(errAbort)
	}
	h := []string{"Content-Type: application/octet-stream", "Connection: close"}
	if rg != nil {
		h = append(h, "Content-Range: "+rg.ContentRange(f.size))
	}
	n := strconv.Itoa(len(body))
	switch m.cfg.badLength {
	case TwoContentLengths:
		h = append(h, "Content-Length: "+n, "Content-Length: "+strconv.Itoa(len(body)+10))
	case ChunkedWithLength:
		h = append(h, "Transfer-Encoding: chunked", "Content-Length: "+n)
		var b bytes.Buffer
		fmt.Fprintf(&b, "%x\r\n", len(body))
		b.Write(body)
		b.WriteString("\r\n0\r\n\r\n")
		body = b.Bytes()
	case NegativeLength:
		h = append(h, "Content-Length: -1")
	}
	m.rawResponse(w, status, h, body)
}

// respWriter applies the body misbehaviours (drop, stall, die, trickle, throttle) and
// header rewrites to one response, and counts bytes.
type respWriter struct {
	http.ResponseWriter
	m           *Mirror
	ctx         context.Context
	trickle     *rate.Limiter
	chunk       int
	written     int64
	wroteHeader bool
}

func (m *Mirror) newRespWriter(ctx context.Context, w http.ResponseWriter) *respWriter {
	rw := &respWriter{ResponseWriter: w, m: m, ctx: ctx, chunk: copyBuf}
	if m.cfg.trickle > 0 {
		b := burstFor(m.cfg.trickle)
		rw.trickle = rate.NewLimiter(rate.Limit(m.cfg.trickle), b)
		rw.chunk = min(rw.chunk, chunkFor(b))
	}
	if m.limiter != nil {
		rw.chunk = min(rw.chunk, chunkFor(m.limiter.Burst()))
	}
	return rw
}

func (w *respWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if f := w.m.cfg.contentRange; f != nil && code == http.StatusPartialContent {
		if cr := w.Header().Get("Content-Range"); cr != "" {
			if a, b, t, err := httphdr.ParseContentRange(cr); err == nil && a >= 0 {
				if v := f(a, b, t); v == "" {
					w.Header().Del("Content-Range")
				} else {
					w.Header().Set("Content-Range", v)
				}
			}
		}
	}
	w.m.countStatus(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

// abort flushes what was written and closes the connection.
func (w *respWriter) abort() {
	w.flush()
	if w.m.cfg.reset {
		resetConn(w.ctx)
	}
	panic(errAbort)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	cfg := w.m.cfg
	total := 0
	for len(p) > 0 {
		n := min(len(p), w.chunk)
		if cfg.dropAfter >= 0 {
			rem := cfg.dropAfter - w.written
			if rem <= 0 {
				w.abort()
			}
			n = int(min(int64(n), rem))
		}
		if cfg.stallAfter >= 0 {
			rem := cfg.stallAfter - w.written
			if rem <= 0 {
				w.flush()
				<-w.ctx.Done()
				panic(errAbort)
			}
			n = int(min(int64(n), rem))
		}
		allowed, cut, die := w.m.reserve(n)
		wn, err := w.ResponseWriter.Write(p[:allowed])
		w.written += int64(wn)
		w.m.bytes.Add(int64(wn))
		total += wn
		if err != nil {
			return total, err
		}
		if cut {
			w.flush()
			if die {
				w.m.die()
			}
			panic(errAbort)
		}
		p = p[allowed:]
		if w.trickle != nil && w.trickle.WaitN(w.ctx, wn) != nil {
			panic(errAbort)
		}
		if l := w.m.limiter; l != nil && l.WaitN(w.ctx, wn) != nil {
			panic(errAbort)
		}
	}
	return total, nil
}

// copyBuf is the largest write when no limiter asks for less.
const copyBuf = 256 << 10

var copyPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// ReadFrom copies src in writes of up to copyBuf bytes (io.Copy's default 32 KiB
// buffer made an unthrottled mirror slower than the clients it serves).
func (w *respWriter) ReadFrom(src io.Reader) (int64, error) {
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	buf := (*bp)[:min(copyBuf, max(w.chunk, 32<<10))]
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			wn, werr := w.Write(buf[:n])
			total += int64(wn)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Flush lets handlers flush through the wrapper.
func (w *respWriter) Flush() { w.flush() }

// budget is the mirror-wide byte budget behind DieAfter and DropAfterTotal.
type budget struct {
	mu       sync.Mutex
	used     int64 // guarded by mu
	dropDone bool  // guarded by mu
}

// reserve claims up to n bytes of the mirror-wide budget. cut reports that the response
// must end after writing allowed bytes; die that the mirror must die.
func (m *Mirror) reserve(n int) (allowed int, cut, die bool) {
	cfg := m.cfg
	if cfg.dieAfter < 0 && cfg.dropAfterAll < 0 {
		return n, false, false
	}
	b := &m.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	allowed = n
	if cfg.dieAfter >= 0 {
		if rem := cfg.dieAfter - b.used; int64(allowed) >= rem {
			allowed, cut, die = int(max(rem, 0)), true, true
		}
	}
	if cfg.dropAfterAll >= 0 && !b.dropDone {
		if rem := cfg.dropAfterAll - b.used; int64(allowed) >= rem {
			allowed, cut = int(max(rem, 0)), true
			b.dropDone = true
		}
	}
	b.used += int64(allowed)
	return allowed, cut, die
}
