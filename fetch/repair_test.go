package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/httphdr"
	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

const (
	repairTestSize = 1<<20 + 5000 // 65 pieces, the last one short
	repairTestPlen = 16 << 10
)

// damage writes data to dir/name with several kinds of damage and returns the bad
// pieces and the bad byte ranges a scan must find: flipped bytes in pieces 3 and 20,
// a zeroed run over pieces 30-33, and a truncated tail (the last 2.5 pieces missing).
func damage(t *testing.T, path string, data []byte, plen int64) (bad []int, badRanges int, badBytes int64) {
	t.Helper()
	d := bytes.Clone(data)
	d[3*plen+17] ^= 0xff
	d[20*plen] ^= 0x01
	clear(d[30*plen+100 : 33*plen+5])
	cut := int64(len(data)) - (plen*2 + plen/2) - (int64(len(data)) % plen)
	d = d[:cut]
	if err := os.WriteFile(path, d, 0o644); err != nil {
		t.Fatal(err)
	}
	n := int((int64(len(data)) + plen - 1) / plen)
	bad = []int{3, 20, 30, 31, 32, 33}
	for p := int(cut / plen); p < n; p++ {
		bad = append(bad, p)
	}
	for _, p := range bad {
		off := int64(p) * plen
		badBytes += min(plen, int64(len(data))-off)
	}
	return bad, 4, badBytes
}

// int64s converts piece indexes for mirrortest.CorruptPieces.
func int64s(ps []int) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = int64(p)
	}
	return out
}

func fileSHA(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func oneFile(f metalink.File, urls ...string) *metalink.File {
	for i, u := range urls {
		f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: i + 1})
	}
	return &f
}

func TestRepairMultipart(t *testing.T) {
	data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 7)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	bad, nranges, badBytes := damage(t, path, data, repairTestPlen)
	m := mirrortest.Start(t, data)
	rep, err := Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: dir})
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if fileSHA(t, path) != sha256.Sum256(data) {
		t.Fatal("repaired file differs from the original")
	}
	if rep.State != "repaired" || rep.Repaired != len(bad) || len(rep.BadPieces) != len(bad) || rep.BadBytes != badBytes {
		t.Errorf("report: state %q, repaired %d, bad pieces %v (%d bytes); want repaired, %d, %v (%d bytes)",
			rep.State, rep.Repaired, rep.BadPieces, rep.BadBytes, len(bad), bad, badBytes)
	}
	if len(rep.BadRanges) != nranges || rep.Missing == 0 {
		t.Errorf("bad ranges %v, missing %d; want %d ranges and a missing tail", rep.BadRanges, rep.Missing, nranges)
	}
	if rep.Bytes < badBytes || rep.Bytes > badBytes+badBytes/100 || m.BytesServed() > badBytes+int64(nranges)*200 {
		t.Errorf("fetched %d bytes (mirror served %d) for %d bad bytes", rep.Bytes, m.BytesServed(), badBytes)
	}
	if got := m.RequestCount(); got >= int64(nranges) || rep.Requests != int(got) || rep.MultipartRequests < 1 {
		t.Errorf("%d requests (report %d, %d multipart) for %d bad ranges; want fewer requests than ranges",
			got, rep.Requests, rep.MultipartRequests, nranges)
	}
	if !rep.HashChecked || !strings.HasPrefix(rep.Hash, "sha-256:") {
		t.Errorf("whole-file hash not checked: %q %v", rep.Hash, rep.HashChecked)
	}
	if strings.Count(m.Requests()[0].Range, ",") != nranges-1 {
		t.Errorf("first request asked %q; want the %d bad ranges at once", m.Requests()[0].Range, nranges)
	}
	// Nothing of the lock is left behind.
	if _, err := os.Stat(path + ".part.lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file left: %v", err)
	}
}

// rewriteRange returns a mirrortest.Wrap that rewrites multi-range requests before
// the (correct) server sees them, to play servers that only do single ranges.
func rewriteRange(f func(rs []httphdr.ByteRange) string) mirrortest.Option {
	return mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v := r.Header.Get("Range"); strings.Contains(v, ",") {
				rs, err := httphdr.ParseRange(v, repairTestSize)
				if err == nil {
					r.Header.Set("Range", f(rs))
				}
			}
			h.ServeHTTP(w, r)
		})
	})
}

func TestRepairSingleRangeMirror(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  mirrortest.Option
	}{
		// Answers only the first range of a multi-range request.
		{"first-range-only", rewriteRange(func(rs []httphdr.ByteRange) string { return httphdr.FormatRange(rs[0].Start, rs[0].Length) })},
		// Coalesces all ranges into one part spanning them (gaps included).
		{"coalesced-span", rewriteRange(func(rs []httphdr.ByteRange) string {
			return httphdr.FormatRange(rs[0].Start, rs[len(rs)-1].End()-rs[0].Start)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 8)
			dir := t.TempDir()
			path := filepath.Join(dir, "r.bin")
			_, nranges, badBytes := damage(t, path, data, repairTestPlen)
			m := mirrortest.Start(t, data, tc.opt)
			rep, err := Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: dir})
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if fileSHA(t, path) != sha256.Sum256(data) {
				t.Fatal("repaired file differs from the original")
			}
			reqs := m.Requests()
			for i, r := range reqs[1:] {
				if strings.Contains(r.Range, ",") {
					t.Errorf("request %d asked %q after a single-part answer; want single ranges", i+1, r.Range)
				}
			}
			if tc.name == "first-range-only" {
				if len(reqs) != nranges || rep.Bytes != badBytes {
					t.Errorf("%d requests, %d bytes; want %d requests for exactly %d bad bytes", len(reqs), rep.Bytes, nranges, badBytes)
				}
			} else if rep.Bytes > int64(repairTestSize) || len(reqs) != 1 {
				t.Errorf("%d requests, %d bytes; want one request of at most the span", len(reqs), rep.Bytes)
			}
		})
	}
}

func TestRepairCorruptingMirrorQuarantined(t *testing.T) {
	data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 9)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	bad, _, badBytes := damage(t, path, data, repairTestPlen)
	evil := mirrortest.Start(t, data, mirrortest.CorruptPieces(repairTestPlen, int64s(bad)...))
	noRange := mirrortest.Start(t, data, mirrortest.IgnoreRange())
	good := mirrortest.Start(t, data)
	// The corrupting and the range-less mirrors come first.
	rep, err := Repair(context.Background(), oneFile(f, evil.URL(), noRange.URL(), good.URL()), Options{Dir: dir, Connections: 1})
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if fileSHA(t, path) != sha256.Sum256(data) {
		t.Fatal("repaired file differs from the original")
	}
	states := map[string]MirrorReport{}
	for _, mr := range rep.Mirrors {
		states[mr.URL] = mr
	}
	if s := states[evil.URL()]; s.State != MirrorQuarantined || s.BadPieces != 2 || s.Good != 0 {
		t.Errorf("corrupting mirror: %+v; want quarantined after 2 bad pieces, nothing good", s)
	}
	if s := states[noRange.URL()]; s.State != MirrorNoRange || s.Bytes != 0 || s.Requests != 1 {
		t.Errorf("range-less mirror: %+v; want no-range after one request, nothing of its body read", s)
	}
	if s := states[good.URL()]; s.Good != badBytes {
		t.Errorf("good mirror delivered %d bytes; want all %d bad bytes", s.Good, badBytes)
	}
}

// pieceSnapshot returns each piece's bytes as present in path (nil when short).
func pieceSnapshot(t *testing.T, path string, n int, plen int64) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, n)
	for p := range n {
		off := int64(p) * plen
		if off+plen <= int64(len(b)) {
			out[p] = bytes.Clone(b[off : off+plen])
		}
	}
	return out
}

// noWorse checks that every piece good in before is still good and unchanged.
func noWorse(t *testing.T, path string, f *metalink.File, before []bool) []bool {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	after, err := verify.Pieces(context.Background(), fh, f.Size, &f.Pieces[0], nil, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for p, ok := range before {
		if ok && !after[p] {
			t.Errorf("piece %d was good before the repair and is not after it", p)
		}
	}
	return after
}

func goodPieces(t *testing.T, path string, f *metalink.File) []bool {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	g, err := verify.Pieces(context.Background(), fh, f.Size, &f.Pieces[0], nil, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestRepairNoSource(t *testing.T) {
	data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 10)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	bad, _, _ := damage(t, path, data, repairTestPlen)
	before := goodPieces(t, path, &f)
	snap := pieceSnapshot(t, path, len(before), repairTestPlen)
	// Piece 3 is corrupt on the only mirror that has it; the other mirror is gone.
	evil := mirrortest.Start(t, data, mirrortest.CorruptPieces(repairTestPlen, 3))
	dead := mirrortest.Start(t, data, mirrortest.Fail(http.StatusNotFound, 0, ""))
	rep, err := Repair(context.Background(), oneFile(f, evil.URL(), dead.URL()), Options{Dir: dir, MaxBadPieces: 5})
	if !errors.Is(err, ErrNoSource) {
		t.Fatalf("err = %v; want ErrNoSource", err)
	}
	var pe *PieceError
	if !errors.As(err, &pe) || pe.Index != 3 || !strings.Contains(err.Error(), "(piece 3)") {
		t.Errorf("err = %v; want a *PieceError for piece 3 and the piece list", err)
	}
	if rep.State != "failed" || len(rep.Unrepaired) != 1 || rep.Unrepaired[0] != 3 || rep.Repaired != len(bad)-1 {
		t.Errorf("report: state %q, unrepaired %v, repaired %d; want failed, [3], %d", rep.State, rep.Unrepaired, rep.Repaired, len(bad)-1)
	}
	after := noWorse(t, path, &f, before)
	now := pieceSnapshot(t, path, len(before), repairTestPlen)
	for p, ok := range before {
		if ok && !bytes.Equal(snap[p], now[p]) {
			t.Errorf("good piece %d was rewritten", p)
		}
	}
	if after[3] {
		t.Error("piece 3 is good although no mirror had it")
	}
	// Every piece but 3 is repaired: the next run with a good mirror fetches only it.
	good := mirrortest.Start(t, data)
	rep, err = Repair(context.Background(), oneFile(f, good.URL()), Options{Dir: dir})
	if err != nil || rep.Repaired != 1 || rep.Bytes != repairTestPlen {
		t.Fatalf("rerun: err %v, repaired %d, %d bytes; want piece 3 only", err, rep.Repaired, rep.Bytes)
	}
	if fileSHA(t, path) != sha256.Sum256(data) {
		t.Fatal("repaired file differs from the original")
	}
}

func TestRepairCancelThenRerun(t *testing.T) {
	data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 11)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	damage(t, path, data, repairTestPlen)
	before := goodPieces(t, path, &f)
	slow := mirrortest.Start(t, data, mirrortest.Throttle(64<<10))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := 0
	_, err := Repair(ctx, oneFile(f, slow.URL()), Options{Dir: dir, OnEvent: func(ev Event) {
		if ev.Kind == EventPieceDone {
			if done++; done == 2 {
				cancel()
			}
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
	mid := noWorse(t, path, &f, before)
	fixed := 0
	for p := range mid {
		if mid[p] && !before[p] {
			fixed++
		}
	}
	if fixed < 2 {
		t.Errorf("%d pieces repaired before the cancel; want at least 2 kept", fixed)
	}
	good := mirrortest.Start(t, data)
	rep, err := Repair(context.Background(), oneFile(f, good.URL()), Options{Dir: dir})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if fileSHA(t, path) != sha256.Sum256(data) {
		t.Fatal("repaired file differs from the original")
	}
	if rep.Repaired != len(rep.BadPieces) || len(rep.BadPieces) > len(before)-fixed {
		t.Errorf("rerun repaired %d of %d bad pieces", rep.Repaired, len(rep.BadPieces))
	}
}

func TestRepairAlreadyGood(t *testing.T) {
	data, f := testFile(t, "r.bin", 200<<10, repairTestPlen, 12)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := mirrortest.Start(t, data)
	rep, err := Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: dir})
	if err != nil || rep.State != "good" || rep.Requests != 0 || m.RequestCount() != 0 {
		t.Fatalf("err %v, state %q, %d requests (mirror saw %d); want good with no request", err, rep.State, rep.Requests, m.RequestCount())
	}
	if !strings.HasPrefix(rep.Hash, "sha-256:") {
		t.Errorf("hash %q", rep.Hash)
	}
}

func TestRepairLongerFile(t *testing.T) {
	data, f := testFile(t, "r.bin", 200<<10, repairTestPlen, 13)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	d := append(bytes.Clone(data), "trailing junk"...)
	d[5*repairTestPlen] ^= 1
	if err := os.WriteFile(path, d, 0o644); err != nil {
		t.Fatal(err)
	}
	m := mirrortest.Start(t, data)
	rep, err := Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, path) != sha256.Sum256(data) || rep.Truncated != int64(len("trailing junk")) || rep.Repaired != 1 {
		t.Fatalf("truncated %d, repaired %d; want the junk cut and one piece repaired", rep.Truncated, rep.Repaired)
	}
}

func TestRepairRefusals(t *testing.T) {
	data, f := testFile(t, "r.bin", 100<<10, repairTestPlen, 14)
	m := mirrortest.Start(t, data)
	t.Run("missing", func(t *testing.T) {
		_, err := Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: t.TempDir()})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "mlink get") {
			t.Fatalf("err = %v; want ErrNotExist suggesting mlink get", err)
		}
	})
	t.Run("no-piece-hashes", func(t *testing.T) {
		dir := t.TempDir()
		d := bytes.Clone(data)
		d[10] ^= 1
		os.WriteFile(filepath.Join(dir, "r.bin"), d, 0o644)
		g := f
		g.Pieces = nil
		_, err := Repair(context.Background(), oneFile(g, m.URL()), Options{Dir: dir})
		if !errors.Is(err, ErrNotRepairable) || !strings.Contains(err.Error(), "--overwrite") {
			t.Fatalf("err = %v; want ErrNotRepairable suggesting --overwrite", err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "r.bin")); !bytes.Equal(got, d) {
			t.Error("file changed")
		}
	})
	t.Run("inconsistent-metalink", func(t *testing.T) {
		// Every piece matches but the whole-file hash is another file's: nothing to
		// fix by fetching, and the extra bytes are not cut off either.
		dir := t.TempDir()
		d := append(bytes.Clone(data), "junk"...)
		os.WriteFile(filepath.Join(dir, "r.bin"), d, 0o644)
		g := f
		g.Hashes = []metalink.Hash{{Type: "sha-256", Value: strings.Repeat("ab", 32)}}
		_, err := Repair(context.Background(), oneFile(g, m.URL()), Options{Dir: dir})
		if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "inconsistent") {
			t.Fatalf("err = %v; want ErrVerify naming the inconsistency", err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "r.bin")); !bytes.Equal(got, d) {
			t.Error("file changed")
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "target"), data[:10], 0o644)
		os.Symlink("target", filepath.Join(dir, "r.bin"))
		_, err := Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("err = %v; want a refusal of the symlink", err)
		}
	})
	t.Run("locked", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "r.bin"), data[:10], 0o644)
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		l, err := journalLock(root, "r.bin")
		if err != nil {
			t.Skipf("no lock here: %v", err)
		}
		defer l.release()
		_, err = Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: dir})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("err = %v; want ErrLocked", err)
		}
	})
	if m.RequestCount() != 0 {
		t.Errorf("%d requests; refusals must not touch the network", m.RequestCount())
	}
}

// TestRepairHostileParts: a mirror answering with a part that was not asked, or with
// the wrong total, is dropped and nothing of it is written; the good mirror repairs.
func TestRepairHostileParts(t *testing.T) {
	firstOnly := rewriteRange(func(rs []httphdr.ByteRange) string { return httphdr.FormatRange(rs[0].Start, rs[0].Length) })
	for _, tc := range []struct {
		name string
		opts []mirrortest.Option
	}{
		{"unasked-range", []mirrortest.Option{rewriteRange(func(rs []httphdr.ByteRange) string {
			return httphdr.FormatRange(rs[0].Start+1, rs[0].Length)
		})}},
		{"wrong-total", []mirrortest.Option{mirrortest.WrongTotal(repairTestSize + 1), firstOnly}},
		{"gzip", []mirrortest.Option{mirrortest.Gzip(), firstOnly}},
		{"multipart-garbage", []mirrortest.Option{mirrortest.Wrap(func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "multipart/byteranges; boundary=XX")
				w.WriteHeader(http.StatusPartialContent)
				w.Write([]byte("--XX\r\nContent-Range: bytes 0-9/" + strconv.Itoa(repairTestSize) + "\r\n\r\n0123456789\r\n--XX--\r\n"))
			})
		})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 15)
			dir := t.TempDir()
			path := filepath.Join(dir, "r.bin")
			damage(t, path, data, repairTestPlen)
			evil := mirrortest.Start(t, data, tc.opts...)
			good := mirrortest.Start(t, data)
			rep, err := Repair(context.Background(), oneFile(f, evil.URL(), good.URL()), Options{Dir: dir, Connections: 1})
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if fileSHA(t, path) != sha256.Sum256(data) {
				t.Fatal("repaired file differs from the original")
			}
			if s := rep.Mirrors[0]; s.State != MirrorDropped || s.Good != 0 {
				t.Errorf("hostile mirror: %+v; want dropped with nothing used", s)
			}
		})
	}
}

func TestFormatPieceList(t *testing.T) {
	if got := formatPieceList([]int{9, 1, 2, 3, 7, 10, 11}); got != "1-3, 7, 9-11" {
		t.Errorf("got %q", got)
	}
	_ = time.Second
}

// TestRepairFlakyMirrors: transient failures (503, a connection cut in the middle of
// a multipart body) back off and retry; nothing half-received is written.
func TestRepairFlakyMirrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []mirrortest.Option
		second bool // a good mirror beside the flaky one
	}{
		{"503-once", []mirrortest.Option{mirrortest.Fail(http.StatusServiceUnavailable, 1, "")}, false},
		{"cut-mid-body", []mirrortest.Option{mirrortest.DropAfter(20000)}, true},
		{"reset-mid-body", []mirrortest.Option{mirrortest.ResetAfter(40000)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 16)
			dir := t.TempDir()
			path := filepath.Join(dir, "r.bin")
			damage(t, path, data, repairTestPlen)
			urls := []string{mirrortest.Start(t, data, tc.opts...).URL()}
			if tc.second {
				urls = append(urls, mirrortest.Start(t, data).URL())
			}
			rep, err := Repair(context.Background(), oneFile(f, urls...), Options{Dir: dir, Connections: 1})
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if fileSHA(t, path) != sha256.Sum256(data) {
				t.Fatal("repaired file differs from the original")
			}
			if rep.Mirrors[0].Errors == 0 {
				t.Errorf("flaky mirror: %+v; want its errors counted", rep.Mirrors[0])
			}
		})
	}
}

// TestRepairManyRanges: more bad ranges than one request may ask for are split into
// requests of at most repairMaxRanges ranges each.
func TestRepairManyRanges(t *testing.T) {
	data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 17)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	d := bytes.Clone(data)
	nbad, badBytes := 0, int64(0)
	for p := 0; p < 65; p += 2 { // 33 separate bad pieces, the short last one included
		d[int64(p)*repairTestPlen] ^= 1
		nbad++
		badBytes += min(repairTestPlen, repairTestSize-int64(p)*repairTestPlen)
	}
	os.WriteFile(path, d, 0o644)
	m := mirrortest.Start(t, data)
	rep, err := Repair(context.Background(), oneFile(f, m.URL()), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, path) != sha256.Sum256(data) || rep.Repaired != nbad || rep.Bytes != badBytes {
		t.Fatalf("repaired %d pieces with %d bytes; want %d pieces, exactly their bytes", rep.Repaired, rep.Bytes, nbad)
	}
	reqs := m.Requests()
	if len(reqs) != (nbad+repairMaxRanges-1)/repairMaxRanges {
		t.Errorf("%d requests for %d ranges; want %d", len(reqs), nbad, (nbad+repairMaxRanges-1)/repairMaxRanges)
	}
	for _, r := range reqs {
		if n := strings.Count(r.Range, ",") + 1; n > repairMaxRanges {
			t.Errorf("a request asked %d ranges; the cap is %d", n, repairMaxRanges)
		}
	}
}

// With no ranged mirror able to supply the bad pieces, a range-less mirror makes one
// sequential pass: only the pieces in need are written (each verified), the pass
// stops after the last of them, and the mirror is never asked for a second pass.
func TestRepairFromRangelessMirror(t *testing.T) {
	data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 12)
	t.Run("alone", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "r.bin")
		d := bytes.Clone(data)
		d[2*repairTestPlen+5] ^= 0xff
		d[7*repairTestPlen] ^= 0x01
		if err := os.WriteFile(path, d, 0o644); err != nil {
			t.Fatal(err)
		}
		noRange := mirrortest.Start(t, data, mirrortest.IgnoreRange())
		rep, err := Repair(context.Background(), oneFile(f, noRange.URL()), Options{Dir: dir})
		if err != nil {
			t.Fatalf("Repair: %v", err)
		}
		if fileSHA(t, path) != sha256.Sum256(data) {
			t.Fatal("repaired file differs from the original")
		}
		if rep.Repaired != 2 {
			t.Errorf("repaired %d pieces, want 2", rep.Repaired)
		}
		passes := sequentialPasses(noRange)
		if passes != 1 {
			t.Errorf("%d sequential passes, want 1", passes)
		}
		// The pass ends after piece 7: far less than the whole file is read.
		if got := rep.Mirrors[0].Bytes; got > 8*repairTestPlen {
			t.Errorf("the pass read %d bytes; pieces 0-7 are %d", got, 8*repairTestPlen)
		}
	})
	t.Run("beside a corrupting mirror", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "r.bin")
		bad, _, _ := damage(t, path, data, repairTestPlen)
		evil := mirrortest.Start(t, data, mirrortest.CorruptPieces(repairTestPlen, int64s(bad)...))
		noRange := mirrortest.Start(t, data, mirrortest.IgnoreRange())
		rep, err := Repair(context.Background(), oneFile(f, evil.URL(), noRange.URL()), Options{Dir: dir})
		if err != nil {
			t.Fatalf("Repair: %v", err)
		}
		if fileSHA(t, path) != sha256.Sum256(data) {
			t.Fatal("repaired file differs from the original")
		}
		if rep.Repaired != len(bad) {
			t.Errorf("repaired %d pieces, want %d", rep.Repaired, len(bad))
		}
	})
	t.Run("corrupting too", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "r.bin")
		d := bytes.Clone(data)
		d[3*repairTestPlen] ^= 0xff
		if err := os.WriteFile(path, d, 0o644); err != nil {
			t.Fatal(err)
		}
		noRange := mirrortest.Start(t, data, mirrortest.IgnoreRange(), mirrortest.CorruptPieces(repairTestPlen, 3))
		_, err := Repair(context.Background(), oneFile(f, noRange.URL()), Options{Dir: dir})
		if !errors.Is(err, ErrNoSource) {
			t.Fatalf("Repair: %v, want ErrNoSource", err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, d) {
			t.Error("a failed repair changed the file")
		}
		if k := noRange.RequestCount(); k != 2 {
			t.Errorf("%d requests; want one Range request answered 200 and one pass", k)
		}
	})
}
