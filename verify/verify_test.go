package verify

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mlinkdev/mlink/metalink"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	i := 0
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for ; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// entry describes data as a metalink file entry with a sha-256 whole-file hash and
// sha-256 pieces of pieceLen bytes (no pieces when pieceLen is 0).
func entry(data []byte, pieceLen int64) *metalink.File {
	f := &metalink.File{Name: "x.bin", Size: int64(len(data)), Hashes: []metalink.Hash{{Type: "sha-256", Value: sha256Hex(data)}}}
	if pieceLen > 0 {
		p := metalink.Pieces{Length: pieceLen, Type: "sha-256"}
		for off := int64(0); off < int64(len(data)); off += pieceLen {
			p.Hashes = append(p.Hashes, sha256Hex(data[off:min(off+pieceLen, int64(len(data)))]))
		}
		f.Pieces = []metalink.Pieces{p}
	}
	return f
}

func check(t *testing.T, data []byte, f *metalink.File, opts Options) *Result {
	t.Helper()
	res, err := File(context.Background(), bytes.NewReader(data), int64(len(data)), f, opts)
	if err != nil {
		t.Fatalf("File: %v", err)
	}
	return res
}

// expectBad computes the bad pieces of got against want by comparing bytes.
func expectBad(got, want []byte, pieceLen int64) []int {
	var bad []int
	for i, off := 0, int64(0); off < int64(len(want)); i, off = i+1, off+pieceLen {
		end := min(off+pieceLen, int64(len(want)))
		if end > int64(len(got)) || !bytes.Equal(got[off:end], want[off:end]) {
			bad = append(bad, i)
		}
	}
	return bad
}

func TestFileGood(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		pieceLen int64
		workers  int
	}{
		{"small pieces", 100_000, 4096, 0},
		{"odd pieces crossing chunks", 5<<20 + 17, 1000, 3},
		{"pieces longer than a chunk", 8<<20 + 1, 3 << 20, 2},
		{"one piece", 10, 1 << 20, 1},
		{"no pieces", 3<<20 + 5, 0, 0},
		{"empty file", 0, 1024, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(tc.size, 7)
			f := entry(data, tc.pieceLen)
			var progress int64
			res := check(t, data, f, Options{Workers: tc.workers, Progress: func(n int64) { progress += n }})
			if !res.Good || len(res.BadPieces) != 0 || len(res.BadRanges) != 0 {
				t.Fatalf("good file judged bad: %+v", res)
			}
			if len(res.Hashes) != 1 || !res.Hashes[0].Match || res.Hashes[0].Got != f.Hashes[0].Value {
				t.Errorf("whole-file hash: %+v", res.Hashes)
			}
			if progress != int64(tc.size) {
				t.Errorf("progress reported %d bytes, want %d", progress, tc.size)
			}
			if tc.pieceLen > 0 && (res.PieceType != "sha-256" || res.PieceCount != len(f.Pieces[0].Hashes)) {
				t.Errorf("piece set: %s x %d, want sha-256 x %d", res.PieceType, res.PieceCount, len(f.Pieces[0].Hashes))
			}
		})
	}
}

func TestFileFlippedBytes(t *testing.T) {
	const pieceLen = 64 << 10
	data := testData(40*pieceLen+123, 1)
	f := entry(data, pieceLen)
	bad := bytes.Clone(data)
	for _, off := range []int{pieceLen + 5, 2*pieceLen + 9, 3*pieceLen - 1, 7 * pieceLen, len(data) - 1} {
		bad[off] ^= 0x40
	}
	for _, workers := range []int{1, 2, 5} {
		res := check(t, bad, f, Options{Workers: workers})
		if res.Good {
			t.Fatal("corrupt file judged good")
		}
		if want := []int{1, 2, 7, 40}; !reflect.DeepEqual(res.BadPieces, want) {
			t.Errorf("workers=%d: bad pieces %v, want %v", workers, res.BadPieces, want)
		}
		want := []Range{{pieceLen, 3 * pieceLen}, {7 * pieceLen, 8 * pieceLen}, {40 * pieceLen, int64(len(data))}}
		if !reflect.DeepEqual(res.BadRanges, want) {
			t.Errorf("bad ranges %v, want %v", res.BadRanges, want)
		}
		if res.Hashes[0].Match || res.Hashes[0].Got == "" {
			t.Errorf("whole-file hash should be computed and mismatch: %+v", res.Hashes[0])
		}
		if got := res.BadBytes(); got != 3*pieceLen+123 {
			t.Errorf("BadBytes = %d", got)
		}
	}
}

func TestFileRandomCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 20 {
		pieceLen := int64(1 + r.IntN(300_000))
		data := testData(1+r.IntN(3<<20), uint64(trial))
		f := entry(data, pieceLen)
		bad := bytes.Clone(data)
		for range r.IntN(6) {
			bad[r.IntN(len(bad))] ^= 1
		}
		res := check(t, bad, f, Options{Workers: 1 + r.IntN(4)})
		want := expectBad(bad, data, pieceLen)
		if !reflect.DeepEqual(res.BadPieces, want) {
			t.Fatalf("trial %d (piece %d, size %d): bad pieces %v, want %v", trial, pieceLen, len(data), res.BadPieces, want)
		}
		if res.Good != (len(want) == 0) {
			t.Fatalf("trial %d: Good=%v with %d bad pieces", trial, res.Good, len(want))
		}
	}
}

func TestFileTruncated(t *testing.T) {
	const pieceLen = 10_000
	data := testData(100_000, 2)
	f := entry(data, pieceLen)
	short := data[:45_000] // half of piece 4 is there
	res := check(t, short, f, Options{})
	if res.Good || res.Missing != 55_000 || res.Size != 45_000 || res.WantSize != 100_000 {
		t.Fatalf("truncated: good=%v missing=%d size=%d want=%d", res.Good, res.Missing, res.Size, res.WantSize)
	}
	if want := []int{4, 5, 6, 7, 8, 9}; !reflect.DeepEqual(res.BadPieces, want) {
		t.Errorf("bad pieces %v, want %v", res.BadPieces, want)
	}
	if want := []Range{{40_000, 100_000}}; !reflect.DeepEqual(res.BadRanges, want) {
		t.Errorf("bad ranges %v, want %v", res.BadRanges, want)
	}
	if h := res.Hashes[0]; h.Match || h.Got != "" {
		t.Errorf("whole-file hash of a short file: %+v", h)
	}
	// Without pieces, the whole file is suspect.
	res = check(t, short, entry(data, 0), Options{})
	if want := []Range{{0, 100_000}}; res.Good || !reflect.DeepEqual(res.BadRanges, want) {
		t.Errorf("no pieces: good=%v ranges %v, want %v", res.Good, res.BadRanges, want)
	}
}

func TestFileExtended(t *testing.T) {
	data := testData(50_000, 3)
	f := entry(data, 8192)
	long := append(bytes.Clone(data), "trailing junk"...)
	res := check(t, long, f, Options{})
	if res.Good || res.Extra != 13 || len(res.BadPieces) != 0 {
		t.Fatalf("extended: good=%v extra=%d bad=%v", res.Good, res.Extra, res.BadPieces)
	}
	if !res.Hashes[0].Match {
		t.Errorf("the first Size bytes are right, whole-file hash over them should match: %+v", res.Hashes[0])
	}
}

func TestFileUnknownSize(t *testing.T) {
	data := testData(30_000, 4)
	f := entry(data, 4096)
	f.Size = -1
	if res := check(t, data, f, Options{}); !res.Good || res.WantSize != 30_000 {
		t.Fatalf("unknown size: %+v", res)
	}
}

func TestFileAllHashes(t *testing.T) {
	data := testData(20_000, 5)
	m := md5.Sum(data)
	s1 := sha1.Sum(data)
	f := entry(data, 0)
	f.Hashes = append(f.Hashes,
		metalink.Hash{Type: "md5", Value: hex.EncodeToString(m[:])},
		metalink.Hash{Type: "sha-1", Value: hex.EncodeToString(s1[:])},
		metalink.Hash{Type: "sha3-999", Value: "ab"})
	res := check(t, data, f, Options{})
	if !res.Good || len(res.Hashes) != 3 {
		t.Fatalf("all hashes: %+v", res)
	}
	if !res.Hashes[1].Weak || res.Hashes[0].Weak {
		t.Errorf("weak flags: %+v", res.Hashes)
	}
	if !reflect.DeepEqual(res.Unsupported, []string{"sha3-999"}) {
		t.Errorf("unsupported = %v", res.Unsupported)
	}
	// A wrong md5 alone makes the file bad even though sha-256 matches: every hash counts.
	f.Hashes[1].Value = hex.EncodeToString(make([]byte, 16))
	if res := check(t, data, f, Options{}); res.Good || !res.Hashes[0].Match || res.Hashes[1].Match {
		t.Errorf("wrong md5: good=%v hashes=%+v", res.Good, res.Hashes)
	}
}

func TestFileStrongestPieceSet(t *testing.T) {
	data := testData(10_000, 6)
	f := entry(data, 1000)
	// A weaker set listing garbage must not be consulted.
	weak := metalink.Pieces{Length: 500, Type: "sha-1", Hashes: make([]string, 20)}
	f.Pieces = append([]metalink.Pieces{weak}, f.Pieces...)
	if res := check(t, data, f, Options{}); !res.Good || res.PieceLength != 1000 {
		t.Fatalf("strongest piece set: %+v", res)
	}
}

func TestFileErrors(t *testing.T) {
	data := testData(1000, 8)
	f := &metalink.File{Name: "x", Size: 1000, Hashes: []metalink.Hash{{Type: "foo", Value: "aa"}}}
	if _, err := File(context.Background(), bytes.NewReader(data), 1000, f, Options{}); !errors.Is(err, ErrNoHash) {
		t.Errorf("unsupported-only hashes: err = %v, want ErrNoHash", err)
	}
	f = entry(data, 100)
	f.Pieces[0].Hashes = f.Pieces[0].Hashes[:5]
	if _, err := File(context.Background(), bytes.NewReader(data), 1000, f, Options{}); !errors.Is(err, ErrBadPieces) {
		t.Errorf("short piece list: err = %v, want ErrBadPieces", err)
	}
	f = entry(data, 100)
	f.Pieces[0].Length, f.Pieces[0].Hashes = 0, nil
	if _, err := File(context.Background(), bytes.NewReader(data), 1000, f, Options{}); !errors.Is(err, ErrBadPieces) {
		t.Errorf("zero piece length: err = %v, want ErrBadPieces", err)
	}
	boom := errors.New("disk on fire")
	f = entry(data, 100)
	if _, err := File(context.Background(), failingReader{bytes.NewReader(data), 500, boom}, 1000, f, Options{}); !errors.Is(err, boom) {
		t.Errorf("I/O error: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := testData(8<<20, 9)
	if _, err := File(ctx, bytes.NewReader(big), int64(len(big)), entry(big, 1<<16), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// failingReader fails every read that reaches past at.
type failingReader struct {
	r   io.ReaderAt
	at  int64
	err error
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

func TestPieces(t *testing.T) {
	const pieceLen = 5000
	data := testData(52_000, 10)
	p := &entry(data, pieceLen).Pieces[0]
	bad := bytes.Clone(data)
	bad[3*pieceLen] ^= 1
	bad[9*pieceLen+2] ^= 1
	short := bad[:48_000]

	good, err := Pieces(context.Background(), bytes.NewReader(short), int64(len(data)), p, nil, Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, true, false, true, true, true, true, true, false, false}
	if !reflect.DeepEqual(good, want) {
		t.Errorf("all pieces: %v, want %v", good, want)
	}
	// Only the claimed pieces are read; unclaimed ones are false.
	claim := make([]bool, len(want))
	claim[0], claim[3], claim[4] = true, true, true
	var read int64
	good, err = Pieces(context.Background(), bytes.NewReader(short), int64(len(data)), p, claim, Options{Progress: func(n int64) { read += n }})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, false, false, true, false, false, false, false, false, false}; !reflect.DeepEqual(good, want) {
		t.Errorf("claimed pieces: %v, want %v", good, want)
	}
	if read != 3*pieceLen {
		t.Errorf("read %d bytes for 3 claimed pieces, want %d", read, 3*pieceLen)
	}
	// Pieces longer than one read buffer are streamed.
	big := testData(5<<20+3, 11)
	bp := &entry(big, 3<<20).Pieces[0]
	if good, err := Pieces(context.Background(), bytes.NewReader(big), int64(len(big)), bp, nil, Options{}); err != nil || !reflect.DeepEqual(good, []bool{true, true}) {
		t.Errorf("long pieces: %v, %v", good, err)
	}
	boom := errors.New("EIO")
	if _, err := Pieces(context.Background(), failingReader{bytes.NewReader(data), 20_000, boom}, int64(len(data)), p, nil, Options{}); !errors.Is(err, boom) {
		t.Errorf("I/O error: %v", err)
	}
	if _, err := Pieces(context.Background(), bytes.NewReader(data), int64(len(data)), p, make([]bool, 3), Options{}); err == nil {
		t.Error("want of the wrong length accepted")
	}
}

// BenchmarkFile measures a full verification (sha-256 whole file + sha-256 pieces of
// 1 MiB) of a 256 MiB file read from the page cache, memory-mapped (the default for an
// *os.File) and through ReadAt copies ("readat"). Besides MB/s it reports CPU time per
// operation, which is less disturbed than wall time by other work on a shared machine.
func BenchmarkFile(b *testing.B) {
	path, f := benchFile(b)
	for _, tc := range []struct {
		name   string
		pieces bool
		whole  bool
		readat bool
	}{
		{"whole+pieces", true, true, false},
		{"whole+pieces/readat", true, true, true},
		{"pieces-only", true, false, false},
		{"whole-only", false, true, false},
	} {
		ff := *f
		if !tc.pieces {
			ff.Pieces = nil
		}
		if !tc.whole {
			ff.Hashes = nil
		}
		b.Run(tc.name, func(b *testing.B) {
			fh, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer fh.Close()
			var r io.ReaderAt = fh
			if tc.readat {
				r = struct{ io.ReaderAt }{fh} // hides *os.File: no mapping
			}
			b.SetBytes(ff.Size)
			cpu0 := cpuTime()
			for b.Loop() {
				res, err := File(context.Background(), r, ff.Size, &ff, Options{})
				if err != nil || !res.Good {
					b.Fatalf("%v %+v", err, res)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkSHA256Stream is the ceiling of BenchmarkFile/whole+pieces: one sha-256 stream
// over the same 256 MiB held in memory, on one goroutine. Compare the two in one run
// (the machine is shared, absolute numbers drift): whole+pieces should reach about 0.85
// of it, since the whole-file hash cannot be split across cores.
func BenchmarkSHA256Stream(b *testing.B) {
	data := testData(256<<20, 12)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h, _ := newHash("sha-256")
		for off := 0; off < len(data); off += chunkSize {
			h.Write(data[off:min(off+chunkSize, len(data))])
		}
		h.Sum(nil)
	}
}

func benchFile(b *testing.B) (string, *metalink.File) {
	b.Helper()
	data := testData(256<<20, 12)
	path := filepath.Join(b.TempDir(), "bench.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return path, entry(data, 1<<20)
}

// BenchmarkFileSmall is the per-file overhead on a 4 KiB file (a tree of many small files).
func BenchmarkFileSmall(b *testing.B) {
	data := testData(4096, 13)
	f := entry(data, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if res, err := File(context.Background(), bytes.NewReader(data), int64(len(data)), f, Options{}); err != nil || !res.Good {
			b.Fatal(err)
		}
	}
}
