package mirrortest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func content(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// client returns a plain client (no transparent gzip, no redirects followed) closed at cleanup.
func client(t *testing.T, m *Mirror) *http.Client {
	t.Helper()
	c := m.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Cleanup(c.CloseIdleConnections)
	return c
}

type result struct {
	resp *http.Response
	body []byte
	err  error // from Do or from reading the body
}

func get(t *testing.T, c *http.Client, method, url, rng string, hdr ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return result{err: err}
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return result{resp: resp, body: body, err: err}
}

func TestCorrectByDefault(t *testing.T) {
	data := content(10000)
	m := Start(t, data)
	c := client(t, m)

	r := get(t, c, "GET", m.URL(), "")
	if r.err != nil || r.resp.StatusCode != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("GET: %v status %v, %d bytes", r.err, r.resp, len(r.body))
	}
	if r.resp.Header.Get("Accept-Ranges") != "bytes" || r.resp.Header.Get("ETag") == "" {
		t.Errorf("headers: %v", r.resp.Header)
	}
	r = get(t, c, "GET", m.URL(), "bytes=100-199")
	if r.err != nil || r.resp.StatusCode != 206 || r.resp.Header.Get("Content-Range") != "bytes 100-199/10000" ||
		!bytes.Equal(r.body, data[100:200]) {
		t.Fatalf("range: %v %v %q", r.err, r.resp.Status, r.resp.Header.Get("Content-Range"))
	}
	r = get(t, c, "GET", m.URL(), "bytes=0-9,20-29")
	if r.err != nil || r.resp.StatusCode != 206 || !strings.HasPrefix(r.resp.Header.Get("Content-Type"), "multipart/byteranges") {
		t.Fatalf("multi-range: %v %v", r.err, r.resp.Header)
	}
	r = get(t, c, "GET", m.URL(), "bytes=20000-")
	if r.err != nil || r.resp.StatusCode != 416 || r.resp.Header.Get("Content-Range") != "bytes */10000" {
		t.Fatalf("unsatisfiable: %v %v", r.err, r.resp.Header)
	}
	r = get(t, c, "HEAD", m.URL(), "")
	if r.err != nil || r.resp.StatusCode != 200 || r.resp.ContentLength != 10000 || len(r.body) != 0 {
		t.Fatalf("HEAD: %v %v", r.err, r.resp)
	}
	r = get(t, c, "GET", m.FileURL("/other"), "")
	if r.err != nil || r.resp.StatusCode != 404 {
		t.Fatalf("other path: %v %v", r.err, r.resp)
	}
	st := m.Stats()
	if st.Requests != 6 || st.RangeRequests != 3 || st.Connections < 1 || st.BytesServed < 10000+100 ||
		st.Statuses[206] != 2 || st.Statuses[416] != 1 || st.Statuses[404] != 1 {
		t.Errorf("stats = %+v", st)
	}
	if reqs := m.Requests(); len(reqs) != 6 || reqs[1].Range != "bytes=100-199" || reqs[0].Method != "GET" {
		t.Errorf("recorded = %+v", reqs)
	}
}

func TestExtraFiles(t *testing.T) {
	a, b := content(100), content(200)
	m := Start(t, a, Path("/pub/a"), File("/pub/b", b))
	c := client(t, m)
	if r := get(t, c, "GET", m.FileURL("/pub/b"), "bytes=10-19"); r.err != nil || !bytes.Equal(r.body, b[10:20]) {
		t.Fatalf("second file: %v", r.err)
	}
	if m.URL() != m.BaseURL()+"/pub/a" {
		t.Errorf("URL = %s", m.URL())
	}
}

func TestCorruption(t *testing.T) {
	data := content(10 * 1024)
	const pl = 1024
	cases := []struct {
		name string
		opt  Option
		want []int64
	}{
		{"range", CorruptRange(2100, 100), []int64{2}},
		{"range across pieces", CorruptRange(1000, 2000), []int64{0, 1, 2}},
		{"pieces", CorruptPieces(pl, 3, 7, 99), []int64{3, 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := Start(t, data, tc.opt)
			c := client(t, m)
			r := get(t, c, "GET", m.URL(), "")
			if r.err != nil {
				t.Fatal(r.err)
			}
			var bad []int64
			for p := int64(0); p < 10; p++ {
				if !bytes.Equal(r.body[p*pl:(p+1)*pl], data[p*pl:(p+1)*pl]) {
					bad = append(bad, p)
				}
			}
			if !equal(bad, tc.want) || !equal(m.CorruptedPieces(pl), tc.want) {
				t.Errorf("corrupted pieces = %v, CorruptedPieces = %v, want %v", bad, m.CorruptedPieces(pl), tc.want)
			}
			// Ranges see the same corruption.
			r2 := get(t, c, "GET", m.URL(), "bytes=1024-4095")
			if !bytes.Equal(r2.body, r.body[1024:4096]) {
				t.Error("range body differs from the full body")
			}
		})
	}
}

func TestCorruptFractionDeterministic(t *testing.T) {
	data := content(1000 * 10)
	a := Start(t, data, CorruptFraction(10, 0.25, 7))
	b := Start(t, data, CorruptFraction(10, 0.25, 7))
	c := Start(t, data, CorruptFraction(10, 0.25, 8))
	pa, pb, pc := a.CorruptedPieces(10), b.CorruptedPieces(10), c.CorruptedPieces(10)
	if !equal(pa, pb) || equal(pa, pc) {
		t.Errorf("same seed gave %d/%d pieces, different seed equal: %v", len(pa), len(pb), equal(pa, pc))
	}
	if len(pa) < 150 || len(pa) > 350 {
		t.Errorf("fraction 0.25 of 1000 pieces corrupted %d", len(pa))
	}
	r := get(t, client(t, a), "GET", a.URL(), "")
	bad := 0
	for p := 0; p < 1000; p++ {
		if !bytes.Equal(r.body[p*10:p*10+10], data[p*10:p*10+10]) {
			bad++
		}
	}
	if bad != len(pa) {
		t.Errorf("served %d bad pieces, CorruptedPieces says %d", bad, len(pa))
	}
}

func TestIgnoreRange(t *testing.T) {
	data := content(5000)
	m := Start(t, data, IgnoreRange())
	r := get(t, client(t, m), "GET", m.URL(), "bytes=1000-1999")
	if r.err != nil || r.resp.StatusCode != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("got %v %v %d bytes", r.err, r.resp.Status, len(r.body))
	}
	if m.RangeRequestCount() != 1 {
		t.Errorf("range requests = %d", m.RangeRequestCount())
	}
}

func TestDropAfter(t *testing.T) {
	data := content(100000)
	m := Start(t, data, DropAfter(5000))
	c := client(t, m)
	for range 2 {
		r := get(t, c, "GET", m.URL(), "")
		if !errors.Is(r.err, io.ErrUnexpectedEOF) || len(r.body) != 5000 || !bytes.Equal(r.body, data[:5000]) {
			t.Fatalf("got %v, %d bytes", r.err, len(r.body))
		}
	}
	if r := get(t, c, "GET", m.URL(), "bytes=0-999"); r.err != nil || len(r.body) != 1000 {
		t.Fatalf("short response cut: %v", r.err)
	}
	if m.Connections() < 2 {
		t.Errorf("connections = %d, want a new one after each drop", m.Connections())
	}
}

func TestDropAfterTotal(t *testing.T) {
	data := content(10000)
	m := Start(t, data, DropAfterTotal(15000))
	c := client(t, m)
	if r := get(t, c, "GET", m.URL(), ""); r.err != nil {
		t.Fatalf("first response: %v", r.err)
	}
	if r := get(t, c, "GET", m.URL(), ""); !errors.Is(r.err, io.ErrUnexpectedEOF) || len(r.body) != 5000 {
		t.Fatalf("second response: %v, %d bytes", r.err, len(r.body))
	}
	if r := get(t, c, "GET", m.URL(), ""); r.err != nil || len(r.body) != 10000 {
		t.Fatalf("third response: %v", r.err)
	}
}

func TestDieAfter(t *testing.T) {
	data := content(10000)
	m := Start(t, data, DieAfter(15000))
	c := client(t, m)
	if r := get(t, c, "GET", m.URL(), ""); r.err != nil {
		t.Fatalf("first response: %v", r.err)
	}
	if r := get(t, c, "GET", m.URL(), ""); r.err == nil || len(r.body) != 5000 {
		t.Fatalf("second response: %v, %d bytes", r.err, len(r.body))
	}
	if !m.Dead() || !m.Stats().Dead {
		t.Fatal("mirror not dead")
	}
	if r := get(t, c, "GET", m.URL(), ""); r.err == nil {
		t.Fatal("dead mirror answered")
	}
	if _, err := net.Dial("tcp", m.Addr()); err == nil {
		t.Fatal("dead mirror accepts connections")
	}
	if got := m.BytesServed(); got != 15000 {
		t.Errorf("bytes served = %d, want 15000", got)
	}
}

func TestStall(t *testing.T) {
	m := New(content(1000), Stall())
	c := client(t, m)
	c.Transport.(*http.Transport).ResponseHeaderTimeout = 200 * time.Millisecond
	r := get(t, c, "GET", m.URL(), "")
	if r.err == nil {
		t.Fatal("stalled mirror answered")
	}
	// A stalled request still in flight must not block Close.
	go get(t, m.Client(), "GET", m.URL(), "")
	for m.RequestCount() < 2 {
		time.Sleep(time.Millisecond)
	}
	m.Close()
	if m.Dead() {
		t.Error("Close made the mirror report itself dead")
	}
}

func TestStallAfter(t *testing.T) {
	m := Start(t, content(100000), StallAfter(3000))
	c := client(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", m.URL(), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 3000)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("first 3000 bytes: %v", err)
	}
	got := make(chan error, 1)
	go func() { _, err := resp.Body.Read(make([]byte, 1)); got <- err }()
	select {
	case err := <-got:
		t.Fatalf("read past the stall point returned %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	<-got
}

func TestTrickleAndThrottle(t *testing.T) {
	data := content(20000)
	for _, opt := range []Option{Trickle(200000), Throttle(200000)} {
		m := Start(t, data, opt)
		r := get(t, client(t, m), "GET", m.URL(), "")
		if r.err != nil || !bytes.Equal(r.body, data) {
			t.Fatalf("throttled body: %v", r.err)
		}
	}
}

func TestThrottleEndsOnClose(t *testing.T) {
	m := New(content(100000), Throttle(100))
	done := make(chan result, 1)
	go func() { done <- get(t, m.Client(), "GET", m.URL(), "") }()
	for m.BytesServed() == 0 {
		time.Sleep(time.Millisecond)
	}
	m.Close()
	if r := <-done; r.err == nil {
		t.Fatal("throttled response completed after Close")
	}
}

func TestContentRangeLies(t *testing.T) {
	data := content(1000)
	cases := []struct {
		opt  Option
		want string
		has  bool
	}{
		{ShiftContentRange(-100), "bytes 0-99/1000", true},
		{WrongTotal(2000), "bytes 100-199/2000", true},
		{NoContentRange(), "", false},
		{ContentRange(func(_, _, t int64) string { return "bytes */1000" }), "bytes */1000", true},
	}
	for _, tc := range cases {
		m := Start(t, data, tc.opt)
		r := get(t, client(t, m), "GET", m.URL(), "bytes=100-199")
		_, has := r.resp.Header["Content-Range"]
		if r.err != nil || r.resp.StatusCode != 206 || r.resp.Header.Get("Content-Range") != tc.want || has != tc.has ||
			!bytes.Equal(r.body, data[100:200]) {
			t.Errorf("got %v %d %q (present %v), want %q", r.err, r.resp.StatusCode, r.resp.Header.Get("Content-Range"), has, tc.want)
		}
	}
}

func TestMultipartSingle(t *testing.T) {
	data := content(1000)
	m := Start(t, data, MultipartSingle())
	r := get(t, client(t, m), "GET", m.URL(), "bytes=100-199")
	if r.err != nil || r.resp.StatusCode != 206 || !strings.HasPrefix(r.resp.Header.Get("Content-Type"), "multipart/byteranges; boundary=") ||
		!bytes.Contains(r.body, data[100:200]) || r.resp.Header.Get("Content-Range") != "" {
		t.Fatalf("got %v %v", r.err, r.resp.Header)
	}
}

func TestLongBody(t *testing.T) {
	data := content(1000)
	m := Start(t, data, LongBody(50))
	r := get(t, client(t, m), "GET", m.URL(), "bytes=100-199")
	if r.err != nil || r.resp.StatusCode != 206 || r.resp.ContentLength != -1 || len(r.body) != 150 ||
		!bytes.Equal(r.body[:100], data[100:200]) || r.resp.Header.Get("Content-Range") != "bytes 100-199/1000" {
		t.Fatalf("got %v %v, %d bytes", r.err, r.resp.Header, len(r.body))
	}
}

func TestBadFraming(t *testing.T) {
	data := content(1000)
	// Go's client itself drops Content-Length when the body is chunked (RFC 9112 §6.3),
	// so a caller sees a chunked body of unknown length, never the conflicting number.
	m := Start(t, data, BadFraming(ChunkedWithLength))
	r := get(t, client(t, m), "GET", m.URL(), "bytes=0-99")
	if r.err != nil || r.resp.ContentLength != -1 || len(r.resp.TransferEncoding) != 1 || !bytes.Equal(r.body, data[:100]) {
		t.Errorf("chunked with length: %v, length %d, %v", r.err, r.resp.ContentLength, r.resp.TransferEncoding)
	}
	for _, f := range []Framing{TwoContentLengths, NegativeLength} {
		m := Start(t, data, BadFraming(f))
		if r := get(t, client(t, m), "GET", m.URL(), "bytes=0-99"); r.err == nil {
			t.Errorf("framing %d: Go's client accepted %v", f, r.resp.Header)
		}
		if m.RequestCount() != 1 {
			t.Errorf("framing %d: %d requests", f, m.RequestCount())
		}
	}
}

func TestGzip(t *testing.T) {
	data := content(1000)
	m := Start(t, data, Gzip())
	r := get(t, client(t, m), "GET", m.URL(), "bytes=100-199", "Accept-Encoding", "identity")
	if r.err != nil || r.resp.StatusCode != 206 || r.resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("got %v %v", r.err, r.resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, data[100:200]) {
		t.Fatalf("decompressed body wrong: %v", err)
	}
}

func TestFail(t *testing.T) {
	m := Start(t, content(100), Fail(503, 2, "86400"))
	c := client(t, m)
	for i := range 3 {
		r := get(t, c, "GET", m.URL(), "")
		want := 503
		if i == 2 {
			want = 200
		}
		if r.err != nil || r.resp.StatusCode != want {
			t.Fatalf("request %d: %v %v", i, r.err, r.resp)
		}
		if want == 503 && r.resp.Header.Get("Retry-After") != "86400" {
			t.Errorf("Retry-After = %q", r.resp.Header.Get("Retry-After"))
		}
	}
	nf := Start(t, content(100), Fail(404, 0, ""))
	for range 2 {
		if r := get(t, client(t, nf), "GET", nf.URL(), ""); r.resp.StatusCode != 404 {
			t.Fatalf("Fail(404, 0) answered %v", r.resp.Status)
		}
	}
}

func TestRedirects(t *testing.T) {
	data := content(100)
	b := Start(t, data, Path("/2"), RedirectPath("/1", "/2"))
	a := Start(t, data, Redirect(b.FileURL("/1")))
	c := client(t, a)
	if r := get(t, c, "GET", a.URL(), ""); r.resp.StatusCode != 302 || r.resp.Header.Get("Location") != b.FileURL("/1") {
		t.Fatalf("a: %v", r.resp)
	}
	// Follow the chain a → b/1 → b/2 with a client that strips nothing, and check b saw
	// the Authorization header (so tests can detect leaks).
	follow := a.Client()
	defer follow.CloseIdleConnections()
	req, _ := http.NewRequest("GET", a.URL(), nil)
	req.Header.Set("X-Token", "secret")
	resp, err := follow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, data) || !b.SawHeader("X-Token") || b.SawHeader("Authorization") {
		t.Fatalf("chain: %d bytes, X-Token seen %v", len(body), b.SawHeader("X-Token"))
	}
	if got := b.Requests(); len(got) != 2 || got[0].URI != "/1" || got[1].URI != "/2" {
		t.Errorf("b saw %+v", got)
	}

	f := Start(t, data, Redirect("file:///etc/passwd"))
	if r := get(t, client(t, f), "GET", f.URL(), ""); r.resp.Header.Get("Location") != "file:///etc/passwd" {
		t.Errorf("file redirect Location = %q", r.resp.Header.Get("Location"))
	}

	loop := Start(t, data, RedirectLoop(), RedirectCode(307))
	lc := loop.Client()
	defer lc.CloseIdleConnections()
	if _, err := lc.Get(loop.URL()); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("loop: %v", err)
	}
	if loop.RequestCount() != 10 {
		t.Errorf("loop requests = %d, want Go's cap of 10", loop.RequestCount())
	}
}

func TestTLS(t *testing.T) {
	data := content(1000)
	m := Start(t, data, TLS())
	if !strings.HasPrefix(m.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL = %s", m.URL())
	}
	if r := get(t, client(t, m), "GET", m.URL(), "bytes=0-9"); r.err != nil || !bytes.Equal(r.body, data[:10]) {
		t.Fatalf("trusted client: %v", r.err)
	}
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	defer plain.CloseIdleConnections()
	if _, err := plain.Get(m.URL()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusting client: %v", err)
	}
}

func TestHugeHeader(t *testing.T) {
	m := Start(t, content(10), HugeHeader(200<<10))
	c := client(t, m)
	c.Transport.(*http.Transport).MaxResponseHeaderBytes = 64 << 10
	if r := get(t, c, "GET", m.URL(), ""); r.err == nil || !strings.Contains(r.err.Error(), "header") {
		t.Fatalf("huge header accepted: %v", r.err)
	}
}

func TestEarlyHints(t *testing.T) {
	data := content(100)
	m := Start(t, data, EarlyHints())
	r := get(t, client(t, m), "GET", m.URL(), "")
	if r.err != nil || r.resp.StatusCode != 200 || !bytes.Equal(r.body, data) || r.resp.Header.Get("Content-Disposition") != "" {
		t.Fatalf("got %v %v", r.err, r.resp.Header)
	}
	if m.Stats().Statuses[103] != 0 {
		t.Error("interim response counted as final")
	}
}

func TestRecordsCredentials(t *testing.T) {
	m := Start(t, content(10))
	get(t, client(t, m), "GET", m.URL(), "", "Authorization", "Bearer x", "Cookie", "a=b")
	if !m.SawHeader("authorization") || !m.SawHeader("Cookie") || m.SawHeader("Proxy-Authorization") {
		t.Fatal("recorded headers wrong")
	}
	if got := m.Requests()[0].Header.Get("Authorization"); got != "Bearer x" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestListenerOption(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := Start(t, content(10), Listener(ln))
	if m.Addr() != ln.Addr().String() {
		t.Fatalf("Addr = %s, want %s", m.Addr(), ln.Addr())
	}
	if r := get(t, client(t, m), "GET", m.URL(), ""); r.err != nil {
		t.Fatal(r.err)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResetAfter(t *testing.T) {
	data := content(100000)
	m := Start(t, data, ResetAfter(2000))
	r := get(t, client(t, m), "GET", m.URL(), "")
	if r.err == nil || len(r.body) > 2000 || !bytes.Equal(r.body, data[:len(r.body)]) {
		t.Fatalf("got %v, %d bytes", r.err, len(r.body))
	}
	if !strings.Contains(r.err.Error(), "reset") && !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Logf("error after reset: %v", r.err)
	}
}

func TestTLSBadCertificates(t *testing.T) {
	for name, opt := range map[string]Option{"expired": TLSExpired(), "wrong host": TLSWrongHost()} {
		m := Start(t, content(10), opt)
		// Even a client that trusts the certificate as a root rejects it.
		r := get(t, client(t, m), "GET", m.URL(), "")
		if r.err == nil || !strings.Contains(r.err.Error(), "certificate") {
			t.Errorf("%s: %v", name, r.err)
		}
	}
}

func TestHeadersETagLatency(t *testing.T) {
	data := content(1000)
	m := Start(t, data, Header("Link", `<http://b/f>; rel=duplicate`), ETag(`"v1"`), Latency(time.Millisecond))
	c := client(t, m)
	r := get(t, c, "GET", m.URL(), "bytes=0-9", "If-Range", `"v1"`)
	if r.err != nil || r.resp.StatusCode != 206 || r.resp.Header.Get("Link") != `<http://b/f>; rel=duplicate` || r.resp.Header.Get("ETag") != `"v1"` {
		t.Fatalf("got %v %v", r.err, r.resp.Header)
	}
	// A changed validator makes If-Range fall back to the whole file (case 73).
	r = get(t, c, "GET", m.URL(), "bytes=0-9", "If-Range", `"v0"`)
	if r.err != nil || r.resp.StatusCode != 200 || len(r.body) != 1000 {
		t.Fatalf("stale If-Range: %v %v", r.err, r.resp.Status)
	}
	none := Start(t, data, ETag(""))
	if r := get(t, client(t, none), "GET", none.URL(), ""); r.resp.Header.Get("ETag") != "" {
		t.Errorf("ETag(\"\") still sends %q", r.resp.Header.Get("ETag"))
	}
}

func TestSlowClose(t *testing.T) {
	data := content(5000)
	m := New(data, SlowClose(time.Hour))
	c := client(t, m)
	r := get(t, c, "GET", m.URL(), "bytes=0-99")
	if r.err != nil || !bytes.Equal(r.body, data[:100]) {
		t.Fatalf("got %v", r.err)
	}
	// The connection is held open (half-closed); Close must still end it promptly.
	m.Close()
}

// SetContent updates the file in place: new bytes, ETag and Last-Modified from the next
// request on, so If-Range with the old ETag falls back to the whole new file.
func TestSetContent(t *testing.T) {
	data := content(1000)
	m := Start(t, data, ETag(`"v1"`), CorruptRange(0, 1))
	c := client(t, m)
	newer := bytes.Repeat([]byte("n"), 1500)
	mod := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	m.SetContent(newer, `"v2"`, mod)
	r := get(t, c, "GET", m.URL(), "bytes=0-9", "If-Range", `"v1"`)
	if r.err != nil || r.resp.StatusCode != 200 || r.resp.Header.Get("ETag") != `"v2"` || len(r.body) != 1500 {
		t.Fatalf("old If-Range after SetContent: %v %v %q", r.err, r.resp.Status, r.resp.Header.Get("ETag"))
	}
	if r.body[0] != 'n'^0xff || !bytes.Equal(r.body[1:], newer[1:]) {
		t.Error("new content not served (with the corruption options applied)")
	}
	if lm := r.resp.Header.Get("Last-Modified"); lm != mod.Format(http.TimeFormat) {
		t.Errorf("Last-Modified %q, want %q", lm, mod.Format(http.TimeFormat))
	}
	r = get(t, c, "GET", m.URL(), "bytes=10-19", "If-Range", `"v2"`)
	if r.err != nil || r.resp.StatusCode != 206 || !bytes.Equal(r.body, newer[10:20]) {
		t.Fatalf("current If-Range: %v %v", r.err, r.resp.Status)
	}
}
