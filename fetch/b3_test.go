package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

const (
	tSize = 1<<20 + 4321 // not a multiple of the piece length
	tPlen = 16 << 10
)

// fastOpts are options for tests: short stall windows so faults resolve quickly.
func fastOpts(dir string) Options {
	return Options{Dir: dir, LowSpeedTime: 2 * time.Second, MaxRetryAfter: 200 * time.Millisecond, ProgressInterval: 50 * time.Millisecond}
}

// run downloads f (with the given mirror URLs in order) and returns the report and error.
func runGet(t *testing.T, f metalink.File, o Options, urls ...string) (*Report, error) {
	t.Helper()
	f.URLs = nil
	for i, u := range urls {
		f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: i + 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return Get(ctx, &metalink.Metalink{Files: []metalink.File{f}}, o)
}

func mirrorReport(t *testing.T, rep *Report, url string) MirrorReport {
	t.Helper()
	for _, m := range rep.Files[0].Mirrors {
		if m.URL == Redact(url) {
			return m
		}
	}
	t.Fatalf("no report for mirror %s", url)
	return MirrorReport{}
}

func assertFile(t *testing.T, dir, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("final file: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("final file differs from the original (%d bytes, want %d)", len(got), len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, name+".part")); err == nil {
		t.Errorf("%s.part left behind after success", name)
	}
}

// TestB3BadMirrorBesideGood runs each catalogue B3 fault on one mirror next to two
// good ones: the file must come out right, and the bad mirror must be judged as the
// case says.
func TestB3BadMirrorBesideGood(t *testing.T) {
	data, f := testFile(t, "f.bin", tSize, tPlen, 3)
	other, _ := testFile(t, "g.bin", tSize-1000, tPlen, 4)
	type check func(t *testing.T, bad *mirrortest.Mirror, r MirrorReport, rep *Report)
	wantState := func(states ...MirrorState) check {
		return func(t *testing.T, bad *mirrortest.Mirror, r MirrorReport, rep *Report) {
			for _, s := range states {
				if r.State == s {
					return
				}
			}
			t.Errorf("bad mirror ended %q, want one of %q (report %+v)", r.State, states, r)
		}
	}
	noGood := func(t *testing.T, bad *mirrortest.Mirror, r MirrorReport, rep *Report) {
		if r.Good != 0 {
			t.Errorf("bad mirror delivered %d bytes that were used", r.Good)
		}
	}
	maxRequests := func(n int64) check {
		return func(t *testing.T, bad *mirrortest.Mirror, r MirrorReport, rep *Report) {
			if got := bad.RequestCount(); got > n {
				t.Errorf("bad mirror got %d requests, want at most %d", got, n)
			}
		}
	}
	cases := []struct {
		name    string
		content []byte
		opts    []mirrortest.Option
		checks  []check
	}{
		{"43 corrupt pieces", data, []mirrortest.Option{mirrortest.CorruptFraction(tPlen, 1, 1)}, []check{
			wantState(MirrorQuarantined, MirrorActive),
			func(t *testing.T, bad *mirrortest.Mirror, r MirrorReport, rep *Report) {
				if r.BadPieces == 0 || rep.Files[0].BadPieces == 0 {
					t.Errorf("no bad piece detected (mirror %+v)", r)
				}
				// Quarantine comes after 2; the other 3 connections may each finish the
				// (bad) piece they were receiving.
				if r.BadPieces > 2+3 {
					t.Errorf("%d bad pieces taken from the mirror, quarantine is after 2", r.BadPieces)
				}
			}}},
		{"44 other version (size)", other, nil, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"46 200 to Range", data, []mirrortest.Option{mirrortest.IgnoreRange()}, []check{wantState(MirrorNoRange), noGood, maxRequests(4)}},
		{"47 shifted Content-Range", data, []mirrortest.Option{mirrortest.ShiftContentRange(-100)}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"48 wrong total", data, []mirrortest.Option{mirrortest.WrongTotal(tSize + 1)}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"49 no Content-Range", data, []mirrortest.Option{mirrortest.NoContentRange()}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"49 unsatisfied form on 206", data, []mirrortest.Option{mirrortest.ContentRange(func(_, _, total int64) string { return "bytes */1048576" })}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"50 multipart for one range", data, []mirrortest.Option{mirrortest.MultipartSingle()}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"51 short body", data, []mirrortest.Option{mirrortest.DropAfter(tPlen + 100)}, []check{
			func(t *testing.T, bad *mirrortest.Mirror, r MirrorReport, rep *Report) {
				if r.Errors == 0 && r.Requests > 0 && r.Good > int64(r.Requests)*tPlen {
					t.Errorf("cut responses not noticed: %+v", r)
				}
			}}},
		{"52 long body", data, []mirrortest.Option{mirrortest.LongBody(5000)}, []check{wantState(MirrorActive, MirrorIdle)}},
		{"53 two Content-Lengths", data, []mirrortest.Option{mirrortest.BadFraming(mirrortest.TwoContentLengths)}, []check{noGood}},
		// net/http resolves chunked + Content-Length as RFC 9112 §6.3 says (chunked wins)
		// and removes the Content-Length before we see it; the data is still
		// piece-verified, so only correctness is asserted.
		{"53 chunked with length", data, []mirrortest.Option{mirrortest.BadFraming(mirrortest.ChunkedWithLength)}, nil},
		{"53 negative length", data, []mirrortest.Option{mirrortest.BadFraming(mirrortest.NegativeLength)}, []check{noGood}},
		{"54 gzip", data, []mirrortest.Option{mirrortest.Gzip()}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"55 reset mid-piece", data, []mirrortest.Option{mirrortest.DropAfterTotal(tPlen*3 + 500)}, []check{}},
		{"56 never answers", data, []mirrortest.Option{mirrortest.Stall()}, []check{noGood}},
		{"57 trickle", data, []mirrortest.Option{mirrortest.Trickle(1)}, []check{noGood}},
		{"58 latency", data, []mirrortest.Option{mirrortest.Latency(30 * time.Millisecond)}, []check{wantState(MirrorActive, MirrorIdle)}},
		{"60 down", data, []mirrortest.Option{mirrortest.DieAfter(0)}, []check{noGood}},
		{"61 404", data, []mirrortest.Option{mirrortest.Fail(http.StatusNotFound, 0, "")}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"61 410", data, []mirrortest.Option{mirrortest.Fail(http.StatusGone, 0, "")}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"61 503 Retry-After 86400", data, []mirrortest.Option{mirrortest.Fail(http.StatusServiceUnavailable, 0, "86400")}, []check{noGood, maxRequests(4 * 5)}},
		{"61 429 then fine", data, []mirrortest.Option{mirrortest.Fail(http.StatusTooManyRequests, 2, "1")}, []check{}},
		{"62 redirect loop", data, []mirrortest.Option{mirrortest.RedirectLoop()}, []check{noGood, maxRequests(4 * (maxRedirects + 1))}},
		{"63 redirect to file://", data, []mirrortest.Option{mirrortest.Redirect("file:///etc/passwd")}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"63 redirect to ftp://", data, []mirrortest.Option{mirrortest.Redirect("ftp://127.0.0.1/file.bin")}, []check{wantState(MirrorDropped), noGood, maxRequests(4)}},
		{"66 untrusted certificate", data, []mirrortest.Option{mirrortest.TLS()}, []check{noGood}},
		{"67 103 Early Hints", data, []mirrortest.Option{mirrortest.EarlyHints()}, []check{wantState(MirrorActive, MirrorIdle)}},
		{"68 huge header", data, []mirrortest.Option{mirrortest.HugeHeader(100 << 10)}, []check{noGood}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := mirrortest.Start(t, tc.content, tc.opts...)
			good1 := mirrortest.Start(t, data)
			good2 := mirrortest.Start(t, data, mirrortest.Throttle(4<<20))
			dir := t.TempDir()
			// The bad mirror comes first so that it certainly gets work.
			rep, err := runGet(t, f, fastOpts(dir), bad.URL(), good1.URL(), good2.URL())
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			assertFile(t, dir, "f.bin", data)
			r := mirrorReport(t, rep, bad.URL())
			for _, c := range tc.checks {
				c(t, bad, r, rep)
			}
			var served int64
			for _, m := range []*mirrortest.Mirror{good1, good2} {
				served += m.BytesServed()
			}
			if rep.Files[0].Bytes < tSize-r.Bytes {
				t.Errorf("report counts %d bytes, the good mirrors served %d", rep.Files[0].Bytes, served)
			}
		})
	}
}

func TestB3AllMirrorsCorrupt(t *testing.T) { // case 45
	data, f := testFile(t, "f.bin", tSize, tPlen, 5)
	var ms []*mirrortest.Mirror
	var urls []string
	for i := range 3 {
		m := mirrortest.Start(t, data, mirrortest.CorruptFraction(tPlen, 1, uint64(i)))
		ms = append(ms, m)
		urls = append(urls, m.URL())
	}
	dir := t.TempDir()
	rep, err := runGet(t, f, fastOpts(dir), urls...)
	if !errors.Is(err, ErrNoSource) {
		t.Fatalf("Get error = %v, want ErrNoSource", err)
	}
	var pe *PieceError
	if !errors.As(err, &pe) {
		t.Errorf("error %v is not a *PieceError", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left in the target directory: %v", entries)
	}
	for i, m := range ms {
		r := mirrorReport(t, rep, m.URL())
		if r.State != MirrorQuarantined {
			t.Errorf("mirror %d ended %s, want quarantined", i, r.State)
		}
		// Bounded: at most 2 bad pieces plus what was in flight on 4 connections.
		if n := m.RequestCount(); n > 2+4 {
			t.Errorf("mirror %d got %d requests", i, n)
		}
	}
}

// TestB3RedirectDowngradeAndCredentials covers cases 63 (https to http) and 64.
func TestB3RedirectDowngradeAndCredentials(t *testing.T) {
	data, f := testFile(t, "f.bin", tSize, tPlen, 6)
	target := mirrortest.Start(t, data)
	down := mirrortest.Start(t, data, mirrortest.TLS(), mirrortest.Redirect(target.URL()))
	good := mirrortest.Start(t, data)
	dir := t.TempDir()
	o := fastOpts(dir)
	o.Client = NewClient(time.Second, 16)
	o.Client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: down.CertPool()}
	// A caller's transport that adds credentials for the TLS mirror only.
	o.Client.Transport = authFor{down.Addr(), o.Client.Transport}
	rep, err := runGet(t, f, o, down.URL(), good.URL())
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if n := target.RequestCount(); n != 0 {
		t.Errorf("https->http redirect was followed %d times", n)
	}
	if r := mirrorReport(t, rep, down.URL()); r.State != MirrorDropped {
		t.Errorf("downgrading mirror ended %s", r.State)
	}
	for _, m := range []*mirrortest.Mirror{good, target} {
		if m.SawHeader("Authorization") || m.SawHeader("Cookie") {
			t.Errorf("mirror %s saw credentials", m.URL())
		}
	}
}

type authFor struct {
	host string
	rt   http.RoundTripper
}

func (a authFor) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == a.host {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer secret")
	}
	return a.rt.RoundTrip(r)
}

func TestRedirectPolicyStripsCredentials(t *testing.T) { // case 64, Go CVE-2024-45336 chain a -> b/1 -> b/2
	mk := func(u string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		return r
	}
	a := mk("https://a.example/f")
	a.Header.Set("Authorization", "Basic eA==")
	b1 := mk("https://b.example/1")
	b1.Header = a.Header.Clone()
	if err := RedirectPolicy(b1, []*http.Request{a}); err != nil || b1.Header.Get("Authorization") != "" {
		t.Fatalf("a -> b/1: err %v, Authorization %q", err, b1.Header.Get("Authorization"))
	}
	b2 := mk("https://b.example/2")
	b2.Header = a.Header.Clone() // net/http copies the original headers again
	if err := RedirectPolicy(b2, []*http.Request{a, b1}); err != nil || b2.Header.Get("Authorization") != "" {
		t.Fatalf("b/1 -> b/2: err %v, Authorization %q", err, b2.Header.Get("Authorization"))
	}
	same := mk("https://a.example/g")
	same.Header = a.Header.Clone()
	if err := RedirectPolicy(same, []*http.Request{a}); err != nil || same.Header.Get("Authorization") == "" {
		t.Errorf("same-origin redirect lost its credentials (err %v)", err)
	}
	for _, u := range []string{"http://a.example/f", "file:///etc/passwd", "ftp://a.example/f"} {
		if err := RedirectPolicy(mk(u), []*http.Request{a}); !errors.Is(err, ErrRedirect) {
			t.Errorf("redirect https -> %s: err %v, want ErrRedirect", u, err)
		}
	}
	via := []*http.Request{}
	for range maxRedirects {
		via = append(via, mk("http://loop.example/?x=secret"))
	}
	err := RedirectPolicy(mk("http://loop.example/"), via)
	if !errors.Is(err, ErrRedirect) || bytes.Contains([]byte(err.Error()), []byte("secret")) {
		t.Errorf("redirect cap: %v", err)
	}
}

// TestB3BadMirrorAlone: with only the faulty mirror, the download fails with
// ErrNoSource naming the cause, the mirror ends dropped after few requests, and
// nothing is left in the target directory.
func TestB3BadMirrorAlone(t *testing.T) {
	data, f := testFile(t, "f.bin", tSize, tPlen, 9)
	cases := []struct {
		name    string
		content []byte
		opts    []mirrortest.Option
		errText string
	}{
		{"44 other size", data[:tSize-1], nil, "another size"},
		{"47 shifted Content-Range", data, []mirrortest.Option{mirrortest.ShiftContentRange(-100)}, "content-range"},
		{"49 no Content-Range", data, []mirrortest.Option{mirrortest.NoContentRange()}, "content-range"},
		{"50 multipart", data, []mirrortest.Option{mirrortest.MultipartSingle()}, "multipart"},
		{"54 gzip", data, []mirrortest.Option{mirrortest.Gzip()}, "gzip"},
		{"61 404", data, []mirrortest.Option{mirrortest.Fail(http.StatusNotFound, 0, "")}, "404"},
		{"62 redirect loop", data, []mirrortest.Option{mirrortest.RedirectLoop()}, "redirects"},
		{"66 untrusted certificate", data, []mirrortest.Option{mirrortest.TLS()}, "certificate"},
		{"68 huge header", data, []mirrortest.Option{mirrortest.HugeHeader(100 << 10)}, "header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mirrortest.Start(t, tc.content, tc.opts...)
			dir := t.TempDir()
			rep, err := runGet(t, f, fastOpts(dir), m.URL())
			if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("Get error = %v, want ErrNoSource mentioning %q", err, tc.errText)
			}
			if r := mirrorReport(t, rep, m.URL()); r.State != MirrorDropped || r.Good != 0 {
				t.Errorf("mirror report %+v, want dropped, nothing used", r)
			}
			if n := m.RequestCount(); n > 4*(maxRedirects+1) {
				t.Errorf("mirror got %d requests", n)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left in the target directory: %v", entries)
			}
		})
	}
}
