package fetch

// SECURITY.md catalogue cases that the B2/B3 tests did not cover, or covered only in
// part (docs/CATALOGUE.md maps every case to its tests).

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// catLogBuffer is a concurrency-safe log sink for slog.
type catLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *catLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *catLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Case 27: three mirror URLs on one host:port share that host's request budget:
// never more than PerMirror requests in flight to it at once.
func TestCatalogueSameHostCapped(t *testing.T) { // case 27
	data, f := testFile(t, "f.bin", 512<<10, tPlen, 40)
	var peak atomic.Int32
	m := mirrortest.Start(t, data, mirrortest.File("/b/f.bin", data), mirrortest.File("/c/f.bin", data),
		mirrortest.Latency(2*time.Millisecond),
		peakRequests(&peak))
	dir := t.TempDir()
	o := fastOpts(dir)
	o.PerMirror = 2
	o.Connections = 16
	if _, err := runGet(t, f, o, m.URL(), m.FileURL("/b/f.bin"), m.FileURL("/c/f.bin")); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if p := peak.Load(); p > 2 {
		t.Errorf("%d requests in flight to one host at once, want at most PerMirror=2", p)
	}
}

// Case 25 (fetch side): a mirror URL with userinfo is ignored (with a warning) and its
// password never logged, reported or sent; the download completes from the others.
func TestCatalogueUserinfoNeverLogged(t *testing.T) { // case 25
	data, f := testFile(t, "f.bin", 128<<10, tPlen, 41)
	withCreds := mirrortest.Start(t, data)
	good := mirrortest.Start(t, data)
	credURL := strings.Replace(withCreds.URL(), "http://", "http://user:s3cr3tpw@", 1)
	var logs catLogBuffer
	var events []string
	var mu sync.Mutex
	dir := t.TempDir()
	o := fastOpts(dir)
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.OnEvent = func(e Event) {
		mu.Lock()
		events = append(events, e.Message+" "+e.Mirror)
		mu.Unlock()
	}
	rep, err := runGet(t, f, o, credURL, good.URL())
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if n := withCreds.RequestCount(); n != 0 {
		t.Errorf("the mirror URL with userinfo got %d requests, want it ignored", n)
	}
	if strings.Contains(logs.String(), "s3cr3tpw") {
		t.Errorf("the password appears in the log")
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(strings.Join(events, "\n"), "s3cr3tpw") {
		t.Errorf("the password appears in an event")
	}
	for _, mr := range rep.Files[0].Mirrors {
		if strings.Contains(mr.URL, "s3cr3tpw") {
			t.Errorf("the password appears in the report: %s", mr.URL)
		}
	}
}

// Cases 57 (second half) and 58: a slow-but-steady only mirror (well above the
// low-speed limit) is not abandoned by the stall watchdog; the file completes.
func TestCatalogueSlowButSteadyMirror(t *testing.T) { // case 57
	data, f := testFile(t, "f.bin", 96<<10, tPlen, 42)
	m := mirrortest.Start(t, data, mirrortest.Throttle(128<<10))
	dir := t.TempDir()
	o := fastOpts(dir)
	o.LowSpeedTime = 300 * time.Millisecond
	rep, err := runGet(t, f, o, m.URL())
	if err != nil {
		t.Fatalf("Get from a steady 128 KiB/s mirror: %v", err)
	}
	assertFile(t, dir, "f.bin", data)
	if r := mirrorReport(t, rep, m.URL()); r.State == MirrorDropped || r.State == MirrorQuarantined {
		t.Errorf("steady mirror ended %s", r.State)
	}
}

// Extra B3 faults beside two good mirrors: slow close (59, goleak in TestMain checks
// that no goroutine is left), 403 (61), a refused connection (60), an expired and a
// wrong-host certificate (66), interim 1xx answers carrying a Location (67).
func TestCatalogueMoreBadMirrors(t *testing.T) {
	data, f := testFile(t, "f.bin", 256<<10+123, tPlen, 43)
	interim := mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "/../../evil")
			w.Header().Set("Content-Disposition", `attachment; filename="../evil"`)
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(104)
			w.Header().Del("Location")
			w.Header().Del("Content-Disposition")
			h.ServeHTTP(w, r)
		})
	})
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr + "/f.bin"
	}
	cases := []struct {
		name   string
		opts   []mirrortest.Option
		closed bool
		states []MirrorState
	}{
		{"59 slow close", []mirrortest.Option{mirrortest.SlowClose(200 * time.Millisecond)}, false, nil},
		{"60 connection refused", nil, true, nil},
		{"61 403", []mirrortest.Option{mirrortest.Fail(http.StatusForbidden, 0, "")}, false, []MirrorState{MirrorDropped}},
		{"66 expired certificate", []mirrortest.Option{mirrortest.TLSExpired()}, false, nil},
		{"66 wrong-host certificate", []mirrortest.Option{mirrortest.TLSWrongHost()}, false, nil},
		{"67 interim 103 and 104 with Location", []mirrortest.Option{interim}, false, []MirrorState{MirrorActive, MirrorIdle}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var badURL string
			var bad *mirrortest.Mirror
			if tc.closed {
				badURL = refused(t)
			} else {
				bad = mirrortest.Start(t, data, tc.opts...)
				badURL = bad.URL()
			}
			good1 := mirrortest.Start(t, data)
			good2 := mirrortest.Start(t, data)
			dir := t.TempDir()
			rep, err := runGet(t, f, fastOpts(dir), badURL, good1.URL(), good2.URL())
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			assertFile(t, dir, "f.bin", data)
			r := mirrorReport(t, rep, badURL)
			if tc.states != nil {
				ok := false
				for _, s := range tc.states {
					ok = ok || r.State == s
				}
				if !ok {
					t.Errorf("bad mirror ended %q, want one of %q", r.State, tc.states)
				}
			}
			if strings.HasPrefix(tc.name, "66") || tc.closed {
				if r.Good != 0 {
					t.Errorf("an unusable mirror delivered %d used bytes", r.Good)
				}
			}
			if bad != nil && strings.HasPrefix(tc.name, "61") && bad.RequestCount() > 4 {
				t.Errorf("403 mirror got %d requests, want it dropped at once", bad.RequestCount())
			}
			if entries, _ := readDirNames(dir); len(entries) != 1 {
				t.Errorf("target directory holds %v, want only f.bin", entries)
			}
		})
	}
}

func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}

// Case 22 (rule 6, "verify every supported hash present"): a right sha-256 next to a
// wrong md5 or sha-512 is a contradiction, never a success: no final file.
func TestCatalogueEveryHashChecked(t *testing.T) { // case 22
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 44)
	m := mirrortest.Start(t, data)
	for _, extra := range []metalink.Hash{
		{Type: "md5", Value: strings.Repeat("0", 32)},
		{Type: "sha-512", Value: strings.Repeat("0", 128)},
	} {
		t.Run(extra.Type, func(t *testing.T) {
			g := f
			// Weakest first, as in the catalogue.
			g.Hashes = append([]metalink.Hash{extra}, f.Hashes...)
			dir := t.TempDir()
			_, err := runGet(t, g, fastOpts(dir), m.URL())
			if err == nil {
				t.Fatalf("download succeeded although the %s does not match", extra.Type)
			}
			if _, err := os.Stat(filepath.Join(dir, "f.bin")); err == nil {
				t.Error("the final name exists")
			}
		})
	}
}

// Case 44 without ranges: a mirror that answers 200 with a whole file of another size
// (Content-Length) is dropped before anything of it is written.
func TestCatalogueOtherSizeWithoutRanges(t *testing.T) { // case 44
	data, f := testFile(t, "f.bin", tSize, tPlen, 45)
	other, _ := testFile(t, "g.bin", tSize+4096, tPlen, 46)
	bad := mirrortest.Start(t, other, mirrortest.IgnoreRange())
	good := mirrortest.Start(t, data)
	dir := t.TempDir()
	rep, err := runGet(t, f, fastOpts(dir), bad.URL(), good.URL())
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if r := mirrorReport(t, rep, bad.URL()); r.State != MirrorDropped || r.Good != 0 {
		t.Errorf("mirror of another size: %+v, want dropped with nothing used", r)
	}
}

// peakRequests makes a test mirror record in peak the most requests it served at once.
func peakRequests(peak *atomic.Int32) mirrortest.Option {
	var inFlight atomic.Int32
	return mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			h.ServeHTTP(w, r)
		})
	})
}
