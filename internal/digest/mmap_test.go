//go:build unix

package digest

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// writeRandom writes n random bytes to a new file and returns it open with the data.
func writeRandom(t *testing.T, n int) (*os.File, []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// TestSumMappedMatchesNaive covers the mmap path (a regular *os.File above mapMin):
// piece lengths that are not divisors of the window, so chunks end at window edges
// in the middle of pieces, and files ending inside a window.
func TestSumMappedMatchesNaive(t *testing.T) {
	f, data := writeRandom(t, 2*mapWindow+3*BufferSize+777)
	if _, ok := newMapSource(f, int64(len(data))); !ok {
		t.Fatal("a regular file above mapMin is not mapped: the test would not exercise mmap")
	}
	cases := []struct {
		name     string
		size     int
		pieceLen int64
	}{
		{"whole file, 1 MiB pieces", len(data), BufferSize},
		{"pieces straddling windows", len(data), 3_000_001},
		{"piece longer than a window", len(data), mapWindow + 12345},
		{"prefix of the file", mapMin + 5, 65536},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hashes := []string{"sha-256", "md5"}
			var progressed int64
			got, err := Sum(context.Background(), f, int64(c.size), Options{
				Hashes: hashes, PieceHash: "sha-1", PieceLength: c.pieceLen, Workers: 3,
				Progress: func(n int64) { progressed += n },
			})
			if err != nil {
				t.Fatalf("Sum: %v", err)
			}
			if want := naive(t, data[:c.size], hashes, "sha-1", c.pieceLen); !equalResults(got, want) {
				t.Fatalf("mapped Sum differs from the naive result")
			}
			if progressed != int64(c.size) {
				t.Errorf("progress total = %d, want %d", progressed, c.size)
			}
		})
	}
}

// TestSumMappedTruncated truncates the file while Sum hashes its mapping: the
// memory fault (SIGBUS) must come back as ErrShortRead, not crash the process.
func TestSumMappedTruncated(t *testing.T) {
	f, data := writeRandom(t, 4*mapWindow)
	w, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var seen int64
	_, err = Sum(context.Background(), f, int64(len(data)), Options{
		Hashes: []string{"sha-256"}, PieceHash: "sha-256", PieceLength: BufferSize,
		Progress: func(n int64) {
			seen += n
			if seen == BufferSize { // after the first chunk: the rest of the file goes away
				if err := w.Truncate(BufferSize); err != nil {
					t.Error(err)
				}
			}
		},
	})
	if !errors.Is(err, ErrShortRead) {
		t.Fatalf("Sum over a file truncated while mapped: error = %v, want ErrShortRead", err)
	}
}

// TestSumMappedCancel stops a mapped Sum through its context: every window is unmapped
// and every goroutine ended (goleak in TestMain).
func TestSumMappedCancel(t *testing.T) {
	f, data := writeRandom(t, 3*mapWindow)
	ctx, cancel := context.WithCancel(context.Background())
	var seen int64
	_, err := Sum(ctx, f, int64(len(data)), Options{
		Hashes: []string{"sha-256"}, PieceHash: "sha-256", PieceLength: BufferSize,
		Progress: func(n int64) {
			if seen += n; seen >= mapWindow {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled mapped Sum: error = %v, want context.Canceled", err)
	}
}
