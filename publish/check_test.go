package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

const checkPiece = 4096

// checkNoLeaks verifies, after every other cleanup of t (mirrors, clients) ran, that
// no goroutine started during the test is left.
func checkNoLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func checkContent(seed byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// checkMetalink describes data (pieces of checkPiece bytes) with the given URLs.
func checkMetalink(name string, data []byte, urls ...string) *metalink.Metalink {
	sum := sha256.Sum256(data)
	p := metalink.Pieces{Length: checkPiece, Type: "sha-256"}
	for off := 0; off < len(data); off += checkPiece {
		s := sha256.Sum256(data[off:min(off+checkPiece, len(data))])
		p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
	}
	f := metalink.File{Name: name, Size: int64(len(data)), Hashes: []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}},
		Pieces: []metalink.Pieces{p}}
	for i, u := range urls {
		f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: i + 1})
	}
	return &metalink.Metalink{Format: metalink.FormatV4, Files: []metalink.File{f}}
}

func b64sha256(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// trustingClient is NewCheckClient trusting the given TLS mirrors' certificates.
func trustingClient(t *testing.T, ms ...*mirrortest.Mirror) *http.Client {
	c := NewCheckClient()
	tr := c.Transport.(*http.Transport)
	pool := x509.NewCertPool()
	for _, m := range ms {
		pool.AddCert(m.Certificate())
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestCheckMirrorsVerdicts(t *testing.T) {
	checkNoLeaks(t)
	data := checkContent(1, 16*checkPiece+100) // 17 pieces, the last short
	other := checkContent(2, len(data))

	type tc struct {
		name    string
		mirror  *mirrortest.Mirror
		url     string // defaults to mirror.URL()
		verdict Verdict
		reason  string
	}
	start := func(content []byte, opts ...mirrortest.Option) *mirrortest.Mirror {
		return mirrortest.Start(t, content, opts...)
	}
	dead := mirrortest.New(data)
	dead.Close()
	httpMirror := start(data)
	cases := []tc{
		{name: "good", mirror: start(data), verdict: VerdictOK},
		{name: "good with userinfo", mirror: start(data), verdict: VerdictOK},
		{name: "other version same size", mirror: start(other), verdict: VerdictStale, reason: "every sampled piece"},
		{name: "other size", mirror: start(data[:len(data)-1]), verdict: VerdictStale, reason: "size"},
		{name: "wrong total", mirror: start(data, mirrortest.WrongTotal(5)), verdict: VerdictStale, reason: "size 5"},
		{name: "corrupt pieces", mirror: start(data, mirrortest.CorruptPieces(checkPiece, 3, 16)), verdict: VerdictCorrupt, reason: "2 of 17"},
		{name: "gzip", mirror: start(data, mirrortest.Gzip()), verdict: VerdictCorrupt, reason: "gzip"},
		{name: "200 for range", mirror: start(data, mirrortest.IgnoreRange()), verdict: VerdictNoRange, reason: "200"},
		{name: "shifted content-range", mirror: start(data, mirrortest.ShiftContentRange(7)), verdict: VerdictNoRange},
		{name: "no content-range", mirror: start(data, mirrortest.NoContentRange()), verdict: VerdictNoRange, reason: "without Content-Range"},
		{name: "multipart", mirror: start(data, mirrortest.MultipartSingle()), verdict: VerdictNoRange, reason: "multipart"},
		{name: "long body", mirror: start(data, mirrortest.LongBody(10)), verdict: VerdictNoRange, reason: "body of"},
		{name: "drop", mirror: start(data, mirrortest.DropAfter(100)), verdict: VerdictDown, reason: "unexpected EOF"},
		{name: "503", mirror: start(data, mirrortest.Fail(503, 0, "120")), verdict: VerdictDown, reason: "Retry-After 120"},
		{name: "404", mirror: start(data, mirrortest.Fail(404, 0, "")), verdict: VerdictDown, reason: "404"},
		{name: "stall", mirror: start(data, mirrortest.Stall()), verdict: VerdictDown, reason: "timeout"},
		{name: "refused", mirror: dead, verdict: VerdictDown},
		{name: "redirect to file", mirror: start(data, mirrortest.Redirect("file:///etc/passwd")), verdict: VerdictDown, reason: "redirect refused"},
		{name: "redirect loop", mirror: start(data, mirrortest.RedirectLoop()), verdict: VerdictDown, reason: "redirects"},
		{name: "redirect to good", mirror: start(data, mirrortest.Redirect(httpMirror.URL())), verdict: VerdictOK},
		{name: "huge header", mirror: start(data, mirrortest.HugeHeader(100<<10)), verdict: VerdictDown},
		{name: "ftp", url: "ftp://127.0.0.1/f", verdict: VerdictSkipped},
		{name: "digest header of another file", mirror: start(data, mirrortest.Header("Digest", "SHA-256="+b64sha256(other))), verdict: VerdictStale, reason: "digest header"},
		{name: "repr-digest header of this file", mirror: start(data, mirrortest.Header("Repr-Digest", "sha-256=:"+b64sha256(data)+":")), verdict: VerdictOK},
	}
	var urls []string
	for i := range cases {
		if cases[i].url == "" {
			cases[i].url = cases[i].mirror.URL()
		}
		if cases[i].name == "good with userinfo" {
			cases[i].url = strings.Replace(cases[i].url, "http://", "http://user:secret@", 1)
		}
		urls = append(urls, cases[i].url)
	}
	m := checkMetalink("f.bin", data, urls...)
	client := trustingClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := CheckMirrors(ctx, m, CheckOptions{Client: client, Samples: 100, Timeout: 2 * time.Second, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Mirrors) != len(cases) {
		t.Fatalf("%d results for %d mirrors", len(rep.Mirrors), len(cases))
	}
	failed := 0
	for i, c := range cases {
		got := rep.Mirrors[i]
		if got.Verdict != c.verdict || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("%s: verdict %s (%s), want %s (%q)", c.name, got.Verdict, got.Reason, c.verdict, c.reason)
		}
		if c.verdict.Failed() {
			failed++
		}
		if strings.Contains(got.URL, "secret") {
			t.Errorf("%s: report URL keeps credentials: %s", c.name, got.URL)
		}
		if c.mirror != nil && c.mirror.SawHeader("Authorization") {
			t.Errorf("%s: Authorization reached the mirror", c.name)
		}
	}
	if rep.Failed() != failed {
		t.Errorf("Failed() = %d, want %d", rep.Failed(), failed)
	}
	good := rep.Mirrors[0]
	if !good.RangeOK || len(good.Sampled) != 17 || len(good.Bad) != 0 || good.Status != 206 || good.ReportedSize != int64(len(data)) ||
		good.Throughput <= 0 || good.Bytes != int64(len(data))+1 {
		t.Errorf("good mirror details: %+v", good)
	}
	if bad := rep.Mirrors[5].Bad; len(bad) != 2 || bad[0] != 3 || bad[1] != 16 {
		t.Errorf("corrupt mirror bad pieces = %v, want [3 16]", bad)
	}

	// Prune keeps ok and skipped mirrors only, and encodes.
	pruned := rep.Prune(m)
	var kept []string
	for _, u := range pruned.Files[0].URLs {
		kept = append(kept, u.URL)
	}
	want := []string{urls[0], urls[1], urls[19], urls[21], urls[23]}
	if strings.Join(kept, " ") != strings.Join(want, " ") {
		t.Errorf("pruned URLs = %v, want %v", kept, want)
	}
	if len(m.Files[0].URLs) != len(cases) {
		t.Error("Prune modified its input")
	}
	if err := metalink.Encode(&bytes.Buffer{}, pruned, metalink.FormatV4); err != nil {
		t.Errorf("encode pruned: %v", err)
	}
}

func TestCheckMirrorsTLS(t *testing.T) {
	checkNoLeaks(t)
	data := checkContent(3, 5*checkPiece)
	plain := mirrortest.Start(t, data)
	secure := mirrortest.Start(t, data, mirrortest.TLS())
	downgrade := mirrortest.Start(t, data, mirrortest.TLS(), mirrortest.Redirect(plain.URL()))
	m := checkMetalink("f.bin", data, secure.URL(), downgrade.URL())

	// The default client does not trust the self-signed certificate.
	c := NewCheckClient()
	defer c.CloseIdleConnections()
	rep, err := CheckMirrors(context.Background(), m, CheckOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Mirrors[0]; got.Verdict != VerdictDown || got.TLS != "error" || !strings.Contains(got.Reason, "TLS") {
		t.Errorf("untrusted certificate: %+v", got)
	}
	rep, err = CheckMirrors(context.Background(), m, CheckOptions{Client: trustingClient(t, secure, downgrade)})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Mirrors[0]; got.Verdict != VerdictOK || got.TLS != "ok" || got.TLSExpiry.IsZero() || len(got.Sampled) != 3 {
		t.Errorf("trusted certificate: %+v", got)
	}
	if got := rep.Mirrors[1]; got.Verdict != VerdictDown || !strings.Contains(got.Reason, "downgrade") {
		t.Errorf("https→http redirect: %+v", got)
	}
	if plain.RequestCount() != 0 {
		t.Errorf("the downgrade target got %d requests", plain.RequestCount())
	}
}

// TestCheckMirrorsPerHost: six URLs on one host:port are checked with at most PerHost
// requests in flight to it, while mirrors on other hosts proceed.
func TestCheckMirrorsPerHost(t *testing.T) {
	checkNoLeaks(t)
	data := checkContent(4, 3*checkPiece)
	var inflight, peak atomic.Int64
	var mu sync.Mutex
	gauge := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inflight.Add(1)
			mu.Lock()
			peak.Store(max(peak.Load(), n))
			mu.Unlock()
			defer inflight.Add(-1)
			time.Sleep(5 * time.Millisecond) // widen the overlap window; not asserted on
			h.ServeHTTP(w, r)
		})
	}
	shared := mirrortest.Start(t, data, mirrortest.Wrap(gauge))
	var urls []string
	for i := range 6 {
		urls = append(urls, shared.URL()+"?copy="+string(rune('a'+i)))
	}
	m := checkMetalink("f.bin", data, urls...)
	rep, err := CheckMirrors(context.Background(), m, CheckOptions{Client: trustingClient(t), PerHost: 2, Concurrency: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Mirrors {
		if c.Verdict != VerdictOK {
			t.Errorf("%s: %s %s", c.URL, c.Verdict, c.Reason)
		}
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrent requests to one host = %d, want 1..2", p)
	}
	if n := shared.RequestCount(); n != 6*4 {
		t.Errorf("requests = %d, want 24 (a probe and 3 samples per URL)", n)
	}
}

func TestCheckMirrorsWholeFileWithoutPieces(t *testing.T) {
	data := checkContent(5, 1000)
	good := mirrortest.Start(t, data)
	bad := mirrortest.Start(t, data, mirrortest.CorruptRange(500, 1))
	m := checkMetalink("f.bin", data, good.URL(), bad.URL())
	m.Files[0].Pieces = nil
	rep, err := CheckMirrors(context.Background(), m, CheckOptions{Client: trustingClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	if g, b := rep.Mirrors[0], rep.Mirrors[1]; g.Verdict != VerdictOK || !g.Whole || b.Verdict != VerdictStale || !b.Whole {
		t.Errorf("good %+v\nbad %+v", g, b)
	}
}

func TestCheckMirrorsCancelled(t *testing.T) {
	data := checkContent(6, 1000)
	stall := mirrortest.Start(t, data, mirrortest.Stall())
	m := checkMetalink("f.bin", data, stall.URL())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for stall.RequestCount() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := CheckMirrors(ctx, m, CheckOptions{Client: trustingClient(t)}); err != context.Canceled {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

// TestCheckMirrorsMultiFile: each file's mirrors are judged against that file, and Prune
// removes a failing mirror from its own file only.
func TestCheckMirrorsMultiFile(t *testing.T) {
	checkNoLeaks(t)
	a, b := checkContent(7, 3*checkPiece), checkContent(8, 2*checkPiece+5)
	both := mirrortest.Start(t, a, mirrortest.Path("/a"), mirrortest.File("/b", b))
	wrongB := mirrortest.Start(t, a, mirrortest.Path("/b")) // serves a's bytes as b
	ma := checkMetalink("a", a, both.FileURL("/a"))
	mb := checkMetalink("b", b, both.FileURL("/b"), wrongB.URL())
	m := &metalink.Metalink{Format: metalink.FormatV4, Files: []metalink.File{ma.Files[0], mb.Files[0]}}
	rep, err := CheckMirrors(context.Background(), m, CheckOptions{Client: trustingClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range rep.Mirrors {
		got = append(got, c.File+":"+string(c.Verdict))
	}
	if strings.Join(got, " ") != "a:ok b:ok b:stale" {
		t.Fatalf("verdicts %v", got)
	}
	p := rep.Prune(m)
	if len(p.Files[0].URLs) != 1 || len(p.Files[1].URLs) != 1 || p.Files[1].URLs[0].URL != both.FileURL("/b") {
		t.Errorf("pruned: %+v / %+v", p.Files[0].URLs, p.Files[1].URLs)
	}
}
