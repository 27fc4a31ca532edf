package mirrortest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Mirror is a running test mirror. Its methods are safe for concurrent use.
type Mirror struct {
	// immutable after New
	cfg      *config
	files    map[string]*served
	srv      *http.Server
	ln       net.Listener
	base     string // scheme://host:port
	certPool *x509.CertPool
	cert     *x509.Certificate
	limiter  *rate.Limiter // shared throttle, nil when off
	ctx      context.Context
	cancel   context.CancelFunc
	serveErr chan error
	handlers sync.WaitGroup

	bytes, requests, rangeRequests, conns, fails atomic.Int64
	dead                                         atomic.Bool
	budget                                       budget
	closeOnce, dieOnce                           sync.Once

	mu       sync.Mutex
	closing  bool                  // guarded by mu
	open     map[net.Conn]struct{} // guarded by mu
	recorded []Request             // guarded by mu
	statuses map[int]int64         // guarded by mu

	filesMu sync.RWMutex // guards the entries of files (SetContent replaces them)
}

// Request is one request the mirror received, recorded before it was answered.
type Request struct {
	Method string
	// URI is the request target (path and query).
	URI string
	// Range is the Range header, "" when absent.
	Range string
	// Header is a copy of all request headers (Authorization and Cookie included, so
	// tests can assert that credentials never reached a mirror).
	Header http.Header
}

// Stats is a snapshot of a mirror's counters.
type Stats struct {
	// BytesServed counts response body bytes written (after corruption, before any cut).
	BytesServed int64 `json:"bytes_served"`
	// Requests counts requests received; RangeRequests those with a Range header.
	Requests      int64 `json:"requests"`
	RangeRequests int64 `json:"range_requests"`
	// Connections counts accepted connections.
	Connections int64 `json:"connections"`
	// Statuses counts final responses by status code.
	Statuses map[int]int64 `json:"statuses"`
	// Dead reports whether the mirror died (DieAfter).
	Dead bool `json:"dead"`
}

// New starts a mirror on 127.0.0.1 serving content at the configured path (default
// "/file.bin"), by GET and HEAD, with correct Range handling unless options say
// otherwise. It panics if it cannot listen, like httptest.NewServer. Call Close.
func New(content []byte, opts ...Option) *Mirror {
	return NewReaderAt(bytesReaderAt(content), int64(len(content)), opts...)
}

// Start is New with t.Cleanup(m.Close) registered on tb.
func Start(tb interface{ Cleanup(func()) }, content []byte, opts ...Option) *Mirror {
	m := New(content, opts...)
	tb.Cleanup(m.Close)
	return m
}

// NewReaderAt is New for content read from r (size bytes) on demand; r must be safe for
// concurrent ReadAt (an *os.File is).
func NewReaderAt(r io.ReaderAt, size int64, opts ...Option) *Mirror {
	cfg := defaultConfig()
	for _, o := range opts {
		o(cfg)
	}
	m := &Mirror{cfg: cfg, files: map[string]*served{}, open: map[net.Conn]struct{}{},
		statuses: map[int]int64{}, serveErr: make(chan error, 1)}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for _, f := range append([]fileEntry{{cfg.path, r, size}}, cfg.files...) {
		m.files[f.path] = newServed(cfg, f)
	}
	if cfg.throttle > 0 {
		m.limiter = rate.NewLimiter(rate.Limit(cfg.throttle), burstFor(cfg.throttle))
	}
	ln := cfg.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			panic(fmt.Sprintf("mirrortest: listen: %v", err))
		}
	}
	var h http.Handler = http.HandlerFunc(m.serveHTTP)
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	m.srv = &http.Server{
		Handler:           m.track(h),
		ConnState:         m.connState,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          discardLogger(),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	scheme := "http"
	if cfg.tls {
		cert, pool, err := selfSigned(cfg.tlsKind)
		if err != nil {
			ln.Close()
			panic(fmt.Sprintf("mirrortest: certificate: %v", err))
		}
		m.certPool, m.cert = pool, cert.Leaf
		m.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
		ln = tls.NewListener(ln, m.srv.TLSConfig)
		scheme = "https"
	}
	m.ln = ln
	m.base = scheme + "://" + ln.Addr().String()
	go func() { m.serveErr <- m.srv.Serve(ln) }()
	return m
}

// burstFor picks the limiter burst for a rate: a tenth of a second of data, between
// 1 byte and 4 MiB, so that a writer delayed by a busy machine catches up instead of
// losing its tokens to the cap.
func burstFor(bps float64) int {
	b := int(bps / 10)
	return max(1, min(b, 4<<20))
}

// chunkFor is the largest single write under a limiter of burst b: at most 64 KiB, so
// throttled output stays smooth.
func chunkFor(b int) int { return min(b, 64<<10) }

// URL is the URL of the main file.
func (m *Mirror) URL() string { return m.base + m.cfg.path }

// FileURL is the URL of path p on this mirror.
func (m *Mirror) FileURL(p string) string { return m.base + p }

// BaseURL is scheme://127.0.0.1:port.
func (m *Mirror) BaseURL() string { return m.base }

// Addr is the listening address.
func (m *Mirror) Addr() string { return m.ln.Addr().String() }

// CertPool holds the mirror's certificate (TLS mirrors), nil otherwise.
func (m *Mirror) CertPool() *x509.CertPool { return m.certPool }

// Certificate is the mirror's self-signed certificate (TLS mirrors), nil otherwise; add
// it to a pool shared by several TLS mirrors.
func (m *Mirror) Certificate() *x509.Certificate { return m.cert }

// Client returns a new client for this mirror: it trusts the mirror's certificate
// (TLS) and sends Accept-Encoding itself (no transparent gzip). Callers should
// CloseIdleConnections when done.
func (m *Mirror) Client() *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	if m.certPool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: m.certPool}
	}
	return &http.Client{Transport: tr}
}

// Stats returns a snapshot of the counters.
func (m *Mirror) Stats() Stats {
	m.mu.Lock()
	st := make(map[int]int64, len(m.statuses))
	for k, v := range m.statuses {
		st[k] = v
	}
	m.mu.Unlock()
	return Stats{BytesServed: m.bytes.Load(), Requests: m.requests.Load(), RangeRequests: m.rangeRequests.Load(),
		Connections: m.conns.Load(), Statuses: st, Dead: m.dead.Load()}
}

// BytesServed is the number of response body bytes written so far.
func (m *Mirror) BytesServed() int64 { return m.bytes.Load() }

// RequestCount is the number of requests received so far.
func (m *Mirror) RequestCount() int64 { return m.requests.Load() }

// RangeRequestCount is the number of requests with a Range header so far.
func (m *Mirror) RangeRequestCount() int64 { return m.rangeRequests.Load() }

// Connections is the number of connections accepted so far.
func (m *Mirror) Connections() int64 { return m.conns.Load() }

// Requests returns copies of the recorded requests, oldest first.
func (m *Mirror) Requests() []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Request, len(m.recorded))
	for i, r := range m.recorded {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// SawHeader reports whether any recorded request carried header name (e.g. "Authorization").
func (m *Mirror) SawHeader(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recorded {
		if _, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
			return true
		}
	}
	return false
}

// CorruptedPieces lists the pieces of pieceLength bytes of the main file that this
// mirror serves corrupted.
func (m *Mirror) CorruptedPieces(pieceLength int64) []int64 {
	return m.file(m.cfg.path).corruptedPieces(pieceLength)
}

// file returns the served file at URL path p, nil when none.
func (m *Mirror) file(p string) *served {
	m.filesMu.RLock()
	defer m.filesMu.RUnlock()
	return m.files[p]
}

// SetContent replaces the main file by content, as a server whose file was updated in
// place: from the next request on it is served with ETag etag ("" sends none) and
// Last-Modified modTime (zero: unchanged), with the same misbehaviour options (offsets
// of corruption options apply to the new content). Requests already running finish
// with the old content.
func (m *Mirror) SetContent(content []byte, etag string, modTime time.Time) {
	m.filesMu.Lock()
	defer m.filesMu.Unlock()
	old := m.files[m.cfg.path]
	s := newServed(m.cfg, fileEntry{m.cfg.path, bytesReaderAt(content), int64(len(content))})
	s.etag = etag
	s.modTime = old.modTime
	if !modTime.IsZero() {
		s.modTime = modTime
	}
	m.files[m.cfg.path] = s
}

// Dead reports whether the mirror has died (DieAfter or Kill); Close alone does not
// make it dead.
func (m *Mirror) Dead() bool { return m.dead.Load() }

// Kill makes the mirror die now: listener and all connections closed.
func (m *Mirror) Kill() { m.die() }

// Close stops the mirror: stalled and throttled responses end, every connection is
// closed, and Close returns when every handler and the accept loop have returned.
func (m *Mirror) Close() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closing = true
		m.mu.Unlock()
		m.cancel()
		m.closeConns()
		m.srv.Close()
		<-m.serveErr
		m.handlers.Wait()
	})
}

// die makes the mirror dead: listener and every open connection closed.
func (m *Mirror) die() {
	m.dieOnce.Do(func() {
		m.dead.Store(true)
		m.closeConns()
	})
}

// closeConns closes the listener and every open connection.
func (m *Mirror) closeConns() {
	m.ln.Close()
	m.mu.Lock()
	for c := range m.open {
		c.Close()
	}
	m.mu.Unlock()
}

func (m *Mirror) connState(c net.Conn, st http.ConnState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch st { // closed connections are removed; die closes the rest
	case http.StateNew:
		m.conns.Add(1)
		if m.dead.Load() || m.closing {
			c.Close()
			return
		}
		m.open[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(m.open, c)
	}
}

// track counts running handlers so Close can wait for them.
func (m *Mirror) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		if m.closing {
			m.mu.Unlock()
			panic(errAbort)
		}
		m.handlers.Add(1)
		m.mu.Unlock()
		defer m.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

func (m *Mirror) record(r *http.Request) {
	m.requests.Add(1)
	if r.Header.Get("Range") != "" {
		m.rangeRequests.Add(1)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recorded) < m.cfg.recordLimit {
		m.recorded = append(m.recorded, Request{Method: r.Method, URI: r.URL.RequestURI(),
			Range: r.Header.Get("Range"), Header: r.Header.Clone()})
	}
}

func (m *Mirror) countStatus(code int) {
	m.mu.Lock()
	m.statuses[code]++
	m.mu.Unlock()
}

// requestContext ends when the request's connection goes or the mirror closes.
func (m *Mirror) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(m.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// connKey keys the request context's net.Conn (for ResetAfter).
type connKey struct{}

// resetConn makes the close of the request's connection a TCP RST.
func resetConn(ctx context.Context) {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func bytesReaderAt(b []byte) io.ReaderAt { return bytes.NewReader(b) }

// errAbort aborts a response by closing its connection (net/http recovers it quietly).
var errAbort = http.ErrAbortHandler

var errDied = errors.New("mirrortest: mirror died")
