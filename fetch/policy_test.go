package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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

func TestHashPolicy(t *testing.T) {
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 20)
	m := mirrortest.Start(t, data)
	noHash := f
	noHash.Hashes, noHash.Pieces = nil, nil
	if _, err := runGet(t, noHash, fastOpts(t.TempDir()), m.URL()); !errors.Is(err, ErrNoHash) {
		t.Errorf("no hash: %v, want ErrNoHash", err)
	}
	unknown := noHash
	unknown.Hashes = []metalink.Hash{{Type: "sha3-999", Value: "00"}}
	if _, err := runGet(t, unknown, fastOpts(t.TempDir()), m.URL()); !errors.Is(err, ErrNoHash) {
		t.Errorf("unknown hash only: %v, want ErrNoHash", err)
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests for refused files", n)
	}
	dir := t.TempDir()
	o := fastOpts(dir)
	o.InsecureNoHash = true
	var warned bool
	o.OnEvent = func(e Event) { warned = warned || e.Kind == EventWarning }
	if _, err := runGet(t, noHash, o, m.URL()); err != nil || !warned {
		t.Errorf("InsecureNoHash: err %v, warned %v", err, warned)
	}
	assertFile(t, dir, "f.bin", data)

	weak := noHash
	weak.Hashes = []metalink.Hash{{Type: "md5", Value: md5hex(data)}}
	o = fastOpts(t.TempDir())
	o.RequireStrongHash = true
	if _, err := runGet(t, weak, o, m.URL()); !errors.Is(err, ErrWeakHash) {
		t.Errorf("md5 only with RequireStrongHash: %v, want ErrWeakHash", err)
	}
	dir = t.TempDir()
	o = fastOpts(dir)
	warned = false
	o.OnEvent = func(e Event) { warned = warned || e.Kind == EventWarning }
	if _, err := runGet(t, weak, o, m.URL()); err != nil || !warned {
		t.Errorf("md5 only: err %v, warned %v", err, warned)
	}
	assertFile(t, dir, "f.bin", data)
}

// Without piece hashes a corrupting mirror can only be caught by the whole-file hash:
// the part file is discarded and ErrVerify returned; nothing gets the final name.
func TestNoPieceHashesCorruptMirror(t *testing.T) {
	data, f := testFile(t, "f.bin", tSize, 0, 21)
	good := mirrortest.Start(t, data)
	bad := mirrortest.Start(t, data, mirrortest.CorruptFraction(tPlen, 1, 2))
	dir := t.TempDir()
	_, err := runGet(t, f, fastOpts(dir), bad.URL(), good.URL())
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("Get = %v, want ErrVerify", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	// From good mirrors only it works, in parallel.
	good2 := mirrortest.Start(t, data)
	rep, err := runGet(t, f, fastOpts(dir), good.URL(), good2.URL())
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if good2.BytesServed() == 0 || good.BytesServed() == 0 {
		t.Errorf("not parallel: %+v", rep.Files[0].Mirrors)
	}
}

// A straggler next to fast mirrors: the end-game races its pieces, so the download
// completes with the straggler delivering little (no timing asserted here; bench/peers.sh
// measures it).
func TestEndGameStraggler(t *testing.T) {
	data, f := testFile(t, "f.bin", 512<<10, tPlen, 22)
	slow := mirrortest.Start(t, data, mirrortest.Throttle(8<<10))
	fast1 := mirrortest.Start(t, data)
	fast2 := mirrortest.Start(t, data)
	dir := t.TempDir()
	o := fastOpts(dir)
	o.LowSpeedTime = 10 * time.Second // the straggler is slow but steady: never cut by the watchdog
	rep, err := runGet(t, f, o, slow.URL(), fast1.URL(), fast2.URL())
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	r := mirrorReport(t, rep, slow.URL())
	if r.Good > 4*tPlen {
		t.Errorf("straggler delivered %d bytes; the fast mirrors should have raced it", r.Good)
	}
}

func TestMultiFileSelect(t *testing.T) {
	d1, f1 := testFile(t, "dir/one.iso", 100<<10, tPlen, 23)
	d2, f2 := testFile(t, "two.txt", 50<<10, tPlen, 24)
	m := mirrortest.Start(t, d1, mirrortest.Path("/dir/one.iso"), mirrortest.File("/two.txt", d2))
	f1.URLs = []metalink.URL{{URL: m.FileURL("/dir/one.iso")}}
	f2.URLs = []metalink.URL{{URL: m.FileURL("/two.txt")}}
	ml := &metalink.Metalink{Files: []metalink.File{f1, f2}}

	dir := t.TempDir()
	rep, err := Get(context.Background(), ml, Options{Dir: dir, Select: []string{"*.iso"}})
	if err != nil || len(rep.Files) != 1 {
		t.Fatalf("select: %v, %d files", err, len(rep.Files))
	}
	assertFile(t, dir, "dir/one.iso", d1)
	if _, err := os.Stat(filepath.Join(dir, "two.txt")); err == nil {
		t.Error("unselected file downloaded")
	}
	rep, err = Get(context.Background(), ml, Options{Dir: dir})
	if err != nil || len(rep.Files) != 2 || rep.Files[0].State != "already-complete" || rep.Files[1].State != "done" {
		t.Fatalf("all files: %v, %+v", err, rep.Files)
	}
	assertFile(t, dir, "two.txt", d2)
	if _, err := Get(context.Background(), ml, Options{Dir: dir, Select: []string{"*.none"}}); !errors.Is(err, ErrNoFiles) {
		t.Errorf("select matching nothing: %v", err)
	}
	if _, err := Get(context.Background(), ml, Options{Dir: dir, Output: "x"}); !errors.Is(err, ErrUsage) {
		t.Errorf("Output with two files: %v", err)
	}
}

func TestLocationAndMaxMirrors(t *testing.T) {
	data, f := testFile(t, "f.bin", 128<<10, tPlen, 25)
	far := mirrortest.Start(t, data)
	near := mirrortest.Start(t, data)
	f.URLs = []metalink.URL{{URL: far.URL(), Priority: 1, Location: "us"}, {URL: near.URL(), Priority: 2, Location: "de"}}
	dir := t.TempDir()
	_, err := Get(context.Background(), &metalink.Metalink{Files: []metalink.File{f}}, Options{Dir: dir, Location: []string{"de"}, MaxMirrors: 1})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if far.RequestCount() != 0 || near.RequestCount() == 0 {
		t.Errorf("requests: far %d, near %d; want only the --location mirror", far.RequestCount(), near.RequestCount())
	}
}

func TestIgnoredSchemesAndEvents(t *testing.T) {
	data, f := testFile(t, "f.bin", 128<<10, tPlen, 26)
	// The good mirror answers only once the corrupting one has answered a request
	// (else it may take every piece and no bad piece is ever seen).
	served := make(chan struct{})
	var once sync.Once
	m := mirrortest.Start(t, data, mirrortest.CorruptFraction(tPlen, 1, 1), mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			once.Do(func() { close(served) })
		})
	}))
	good := mirrortest.Start(t, data, mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-served:
			case <-r.Context().Done():
				return
			}
			h.ServeHTTP(w, r)
		})
	}))
	f.URLs = []metalink.URL{{URL: "ftp://127.0.0.1/f.bin"}, {URL: "file:///etc/passwd"}, {URL: m.URL(), Priority: 1}, {URL: good.URL(), Priority: 2}}
	var mu sync.Mutex
	kinds := map[EventKind]int{}
	dir := t.TempDir()
	o := fastOpts(dir)
	o.OnEvent = func(e Event) { mu.Lock(); kinds[e.Kind]++; mu.Unlock() }
	rep, err := Get(context.Background(), &metalink.Metalink{Files: []metalink.File{f}}, o)
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if len(rep.Files[0].Mirrors) != 2 {
		t.Errorf("mirrors used: %+v", rep.Files[0].Mirrors)
	}
	if kinds[EventWarning] != 2 || kinds[EventFileStart] != 1 || kinds[EventFileDone] != 1 || kinds[EventPieceDone] != 8 || kinds[EventPieceBad] == 0 {
		t.Errorf("events: %v", kinds)
	}
}

func TestCancelKeepsPart(t *testing.T) {
	data, f := testFile(t, "f.bin", 256<<10, tPlen, 27)
	m := mirrortest.Start(t, data, mirrortest.Throttle(64<<10))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	o := fastOpts(dir)
	o.OnEvent = func(e Event) {
		if e.Kind == EventPieceDone {
			cancel()
		}
	}
	f.URLs = []metalink.URL{{URL: m.URL()}}
	_, err := Get(ctx, &metalink.Metalink{Files: []metalink.File{f}}, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "f.bin")); err == nil {
		t.Error("final file exists after cancellation")
	}
	if _, err := os.Stat(filepath.Join(dir, "f.bin.part")); err != nil {
		t.Errorf("part file not kept for resume: %v", err)
	}
}

// startMirrors starts n mirrors of data with opts and returns them and their URLs.
func startMirrors(t *testing.T, n int, data []byte, opts ...mirrortest.Option) ([]*mirrortest.Mirror, []string) {
	var ms []*mirrortest.Mirror
	var urls []string
	for range n {
		m := mirrortest.Start(t, data, opts...)
		ms = append(ms, m)
		urls = append(urls, m.URL())
	}
	return ms, urls
}

// mustGet downloads f (data) from urls with o, fails the test on an error or a wrong
// file, and returns the report.
func mustGet(t *testing.T, f metalink.File, data []byte, o Options, urls ...string) *Report {
	t.Helper()
	rep, err := runGet(t, f, o, urls...)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	assertFile(t, o.Dir, f.Name, data)
	return rep
}

// sequentialPasses counts m's requests without a Range: sequential passes.
func sequentialPasses(m *mirrortest.Mirror) int {
	n := 0
	for _, r := range m.Requests() {
		if r.Range == "" {
			n++
		}
	}
	return n
}

// A mirror that answers 200 to Range requests, alone: after the first answers it is
// marked range-less and serves one sequential pass, never more (case 46, last mirror).
func TestRangelessLastMirrorSequential(t *testing.T) {
	data, f := testFile(t, "f.bin", 256<<10, tPlen, 28)
	m := mirrortest.Start(t, data, mirrortest.IgnoreRange())
	dir := t.TempDir()
	rep := mustGet(t, f, data, fastOpts(dir), m.URL())
	// PerMirror (4) range requests answered 200, then exactly one request without Range.
	plain := sequentialPasses(m)
	if plain != 1 || m.RequestCount() > 4+1 {
		t.Errorf("%d requests, %d without Range; want at most 4 + 1 sequential pass", m.RequestCount(), plain)
	}
	if r := mirrorReport(t, rep, m.URL()); r.Good != int64(len(data)) {
		t.Errorf("sequential pass delivered %d of %d bytes", r.Good, len(data))
	}

	// Corrupting as well: one pass, then ErrNoSource; never a second whole copy.
	bad := mirrortest.Start(t, data, mirrortest.IgnoreRange(), mirrortest.CorruptFraction(tPlen, 0.3, 1))
	dir = t.TempDir()
	if _, err := runGet(t, f, fastOpts(dir), bad.URL()); !errors.Is(err, ErrNoSource) {
		t.Fatalf("corrupting range-less mirror: %v, want ErrNoSource", err)
	}
	passes := sequentialPasses(bad)
	if passes != 1 {
		t.Errorf("%d sequential passes, want 1", passes)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// A piece that every usable ranged mirror has sent bad is read from a range-less
// mirror, in its one sequential pass, rather than ending the download: the ranged
// mirror is not quarantined (one bad piece) and goes on with the rest, and the
// range-less one is still never asked for a second whole copy.
func TestRangelessMirrorSuppliesPieceOthersSentBad(t *testing.T) {
	for _, bad := range []int64{0, 9} {
		t.Run(fmt.Sprintf("piece%d", bad), func(t *testing.T) {
			data, f := testFile(t, "f.bin", 10*tPlen+77, tPlen, 31)
			ranged := mirrortest.Start(t, data, mirrortest.CorruptPieces(tPlen, bad))
			noRange := mirrortest.Start(t, data, mirrortest.IgnoreRange())
			dir := t.TempDir()
			rep, err := runGet(t, f, fastOpts(dir), ranged.URL(), noRange.URL())
			if err != nil {
				t.Fatalf("Get: %v (the range-less mirror could supply piece %d)", err, bad)
			}
			assertFile(t, dir, "f.bin", data)
			if r := mirrorReport(t, rep, ranged.URL()); r.BadPieces != 1 || r.State == MirrorQuarantined {
				t.Errorf("ranged mirror: %+v, want one bad piece and no quarantine", r)
			}
			passes := sequentialPasses(noRange)
			if passes != 1 {
				t.Errorf("%d sequential passes from the range-less mirror, want 1", passes)
			}
			if r := mirrorReport(t, rep, noRange.URL()); r.Good < tPlen {
				t.Errorf("range-less mirror delivered %d good bytes, want at least piece %d", r.Good, bad)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	_, f := testFile(t, "empty", 0, 0, 29)
	dir := t.TempDir()
	if _, err := runGet(t, f, fastOpts(dir)); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "empty", nil)
}

// Without a size the file comes in one plain GET per mirror, verified by the whole-file
// hash; a mirror whose copy fails it is dropped and the next one asked.
func TestUnknownSize(t *testing.T) {
	data, f := testFile(t, "f.bin", 100<<10, 0, 30)
	f.Size = -1
	bad := mirrortest.Start(t, data, mirrortest.CorruptRange(5000, 10))
	good := mirrortest.Start(t, data)
	dir := t.TempDir()
	rep := mustGet(t, f, data, fastOpts(dir), bad.URL(), good.URL())
	if r := mirrorReport(t, rep, bad.URL()); r.State != MirrorDropped || r.Good != 0 {
		t.Errorf("corrupting mirror: %+v", r)
	}
	if bad.RequestCount() != 1 || good.RequestCount() != 1 {
		t.Errorf("requests: bad %d, good %d; want one each", bad.RequestCount(), good.RequestCount())
	}
	// Only the corrupting mirror: ErrVerify, nothing left.
	dir = t.TempDir()
	if _, err := runGet(t, f, fastOpts(dir), bad.URL()); !errors.Is(err, ErrVerify) {
		t.Errorf("corrupt only: %v, want ErrVerify", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestUnknownSizeEncodedBody: without a size, a mirror that gzips the body (or whose
// body the transport would decompress) is refused before a byte is hashed, as in the
// ranged path, and the file comes from the next mirror.
func TestUnknownSizeEncodedBody(t *testing.T) {
	data, f := testFile(t, "f.bin", 100<<10, 0, 31)
	f.Size = -1
	bad := mirrortest.Start(t, data, mirrortest.Gzip())
	good := mirrortest.Start(t, data)
	dir := t.TempDir()
	rep := mustGet(t, f, data, fastOpts(dir), bad.URL(), good.URL())
	r := mirrorReport(t, rep, bad.URL())
	if r.Good != 0 || !strings.Contains(r.LastError, "Content-Encoding") {
		t.Errorf("gzip mirror: %+v, want refused for its Content-Encoding", r)
	}
}

// The rate limits hold the download back: a lower bound on the duration (which load
// can only lengthen) shows the limiter is charged; the accuracy over 10 s is measured
// by bench/peers.sh (scenario "limited").
func TestRateLimits(t *testing.T) {
	data, f := testFile(t, "f.bin", 384<<10, tPlen, 31)
	m1 := mirrortest.Start(t, data)
	m2 := mirrortest.Start(t, data, mirrortest.Latency(time.Millisecond))
	for _, o := range []Options{{LimitRate: 512 << 10}, {MirrorLimitRate: 256 << 10}} {
		o.Dir = t.TempDir()
		start := time.Now()
		if _, err := runGet(t, f, o, m1.URL(), m2.URL()); err != nil {
			t.Fatal(err)
		}
		assertFile(t, o.Dir, "f.bin", data)
		// 384 KiB at 512 KiB/s overall (or 2 x 256 KiB/s) minus the initial bursts
		// (at most 52 KiB per limiter) cannot take less than about 0.5 s.
		if el := time.Since(start); el < 450*time.Millisecond {
			t.Errorf("limits %d/%d: done in %v, faster than the limit allows", o.LimitRate, o.MirrorLimitRate, el)
		}
	}
}

// With more mirrors than the connection budget fills at PerMirror each, the budget is
// spread one connection at a time round the mirrors: every mirror is used, rather than
// the first ones taking PerMirror each and the rest none.
func TestConnectionsSpreadOverMirrors(t *testing.T) {
	data, f := testFile(t, "f.bin", 4<<20, tPlen, 33)
	ms, urls := startMirrors(t, 8, data, mirrortest.Throttle(2<<20))
	o := fastOpts(t.TempDir())
	o.Connections, o.PerMirror = 8, 4
	mustGet(t, f, data, o, urls...)
	for i, m := range ms {
		if m.BytesServed() == 0 {
			t.Errorf("mirror %d of 8 was never used with 8 connections", i+1)
		}
	}
}

// A metalink's piece length does not decide how much memory a download takes: a piece
// longer than the file takes the file's size, and a piece set over maxPieceBuffer is
// not used (a warning says so; the whole-file hash still checks the file), or, when
// it is the only hash, the file is refused with ErrNoHash.
func TestPieceLengthBoundsMemory(t *testing.T) {
	t.Run("one piece longer than the file", func(t *testing.T) {
		data, f := testFile(t, "f.bin", 100<<10, 100<<10, 34)
		f.Pieces[0].Length = 1 << 62
		dir := t.TempDir()
		if _, err := runGet(t, f, fastOpts(dir), mirrortest.Start(t, data).URL()); err != nil {
			t.Fatal(err)
		}
		assertFile(t, dir, "f.bin", data)
	})
	old := maxPieceBuffer
	maxPieceBuffer = 64 << 10
	t.Cleanup(func() { maxPieceBuffer = old })
	data, f := testFile(t, "f.bin", 1<<20, 128<<10, 35)
	t.Run("over the cap, with a whole-file hash", func(t *testing.T) {
		dir := t.TempDir()
		o := fastOpts(dir)
		var mu sync.Mutex
		var warnings []string
		o.OnEvent = func(e Event) {
			if e.Kind == EventWarning {
				mu.Lock()
				warnings = append(warnings, e.Message)
				mu.Unlock()
			}
		}
		rep, err := runGet(t, f, o, mirrortest.Start(t, data).URL())
		if err != nil {
			t.Fatal(err)
		}
		assertFile(t, dir, "f.bin", data)
		if len(warnings) != 1 || !strings.Contains(warnings[0], "not checked one by one") {
			t.Errorf("warnings %q, want one saying the pieces are not checked", warnings)
		}
		if rep.Files[0].Hash == "" || !strings.HasPrefix(rep.Files[0].Hash, "sha-256:") {
			t.Errorf("verified by %q, want the whole-file sha-256", rep.Files[0].Hash)
		}
	})
	t.Run("over the cap, pieces only", func(t *testing.T) {
		g := f
		g.Hashes = nil
		dir := t.TempDir()
		_, err := runGet(t, g, fastOpts(dir), mirrortest.Start(t, data).URL())
		if !errors.Is(err, ErrNoHash) || !strings.Contains(err.Error(), "pieces of 131072 bytes") {
			t.Fatalf("got %v, want ErrNoHash naming the piece length", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left behind: %v", entries)
		}
	})
}

// Requests in flight each hold a piece in memory: with large pieces there are fewer of
// them, so that pieces in flight take at most pieceMemory (and never fewer than 2).
func TestLargePiecesFewerRequests(t *testing.T) {
	old := pieceMemory
	pieceMemory = 4 * (64 << 10)
	t.Cleanup(func() { pieceMemory = old })
	data, f := testFile(t, "f.bin", 3<<20, 64<<10, 36)
	var cur, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	var urls []string
	for i := range 4 { // four mirror URLs on one host: PerMirror (4) x 4 would allow 16
		urls = append(urls, fmt.Sprintf("%s/f.bin?m=%d", srv.URL, i))
	}
	dir := t.TempDir()
	o := fastOpts(dir)
	o.Connections, o.PerMirror = 16, 16
	if _, err := runGet(t, f, o, urls...); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if p := peak.Load(); p > 4 || p < 2 {
		t.Errorf("%d requests at once, want 2 to 4 (pieceMemory / piece length)", p)
	}
}

// With more mirrors than connections, the first ones by preference get the connections;
// those measured far slower than the best give theirs up, one at a time, to mirrors
// not tried yet, so fast mirrors further down the list are found.
func TestSlowMirrorsRotatedOutForUntried(t *testing.T) {
	data, f := testFile(t, "f.bin", 6<<20, tPlen, 37)
	_, urls := startMirrors(t, 6, data, mirrortest.Throttle(128<<10))
	fast, fastURLs := startMirrors(t, 2, data)
	o := fastOpts(t.TempDir())
	o.Connections, o.PerMirror = 6, 4
	mustGet(t, f, data, o, append(urls, fastURLs...)...)
	var got int64
	for _, m := range fast {
		got += m.BytesServed()
	}
	if got < int64(len(data))/2 {
		t.Errorf("the two fast mirrors, after six slow ones in the list, served %d of %d bytes", got, len(data))
	}
}

// A small file has fewer pieces than connections: the idle connections must not race
// pieces whose owners have only just asked for them (end-game is for owners that turn
// out slow), or every piece is fetched twice.
func TestSmallFileNoEarlyRaces(t *testing.T) {
	data, f := testFile(t, "f.bin", 4*tPlen, tPlen, 38)
	ms, urls := startMirrors(t, 4, data, mirrortest.Latency(50*time.Millisecond))
	mustGet(t, f, data, fastOpts(t.TempDir()), urls...)
	var served int64
	for _, m := range ms {
		served += m.BytesServed()
	}
	if served > int64(len(data))+tPlen {
		t.Errorf("mirrors served %d bytes for a %d-byte file: pieces raced before their owners could answer", served, len(data))
	}
}

// With a single connection there is no slower mirror to rotate out: the mirror in use
// keeps it, however many mirrors wait untried (a fast first mirror is not swapped for
// a slow one).
func TestSingleConnectionKeepsItsMirror(t *testing.T) {
	data, f := testFile(t, "f.bin", 2<<20, tPlen, 39)
	fast, fastURLs := startMirrors(t, 1, data)
	slow, slowURLs := startMirrors(t, 2, data, mirrortest.Throttle(256<<10))
	o := fastOpts(t.TempDir())
	o.Connections = 1
	mustGet(t, f, data, o, append(fastURLs, slowURLs...)...)
	for _, m := range slow {
		if n := m.BytesServed(); n > 0 {
			t.Errorf("a slow mirror served %d bytes; the fast one (%d bytes) should have kept the only connection", n, fast[0].BytesServed())
		}
	}
}
