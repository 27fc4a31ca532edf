package digest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKnownVectors(t *testing.T) {
	want := map[string]string{
		"md5":     "900150983cd24fb0d6963f7d28e17f72",
		"sha-1":   "a9993e364706816aba3e25717850c26c9cd0d89d",
		"sha-224": "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
		"sha-256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha-384": "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
		"sha-512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	}
	if len(want) != len(Names()) {
		t.Fatalf("Names() = %v, want the %d names of the vector table", Names(), len(want))
	}
	for name, w := range want {
		h, err := New(name)
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		h.Write([]byte("abc"))
		if got := hex.EncodeToString(h.Sum(nil)); got != w {
			t.Errorf("New(%q) of abc = %s, want %s", name, got, w)
		}
		if got, _ := Hex(name, []byte("abc")); got != w {
			t.Errorf("Hex(%q, abc) = %s, want %s", name, got, w)
		}
		sum, n, err := Reader(name, strings.NewReader("abc"))
		if err != nil || n != 3 || hex.EncodeToString(sum) != w {
			t.Errorf("Reader(%q, abc) = %x, %d, %v; want %s, 3, nil", name, sum, n, err, w)
		}
		if size, _ := Size(name); size*2 != len(w) {
			t.Errorf("Size(%q) = %d, want %d", name, size, len(w)/2)
		}
	}
}

func TestUnknownHashNamed(t *testing.T) {
	for _, name := range []string{"sha256", "SHA-256", "sha3-999", ""} {
		_, err := New(name)
		var u *UnknownHashError
		if !errors.As(err, &u) || u.Name != name || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("New(%q) error = %v, want an *UnknownHashError naming it", name, err)
		}
		if _, err := Sum(context.Background(), bytes.NewReader(nil), 0, Options{Hashes: []string{name}}); !errors.As(err, &u) {
			t.Errorf("Sum with hash %q: error = %v, want *UnknownHashError", name, err)
		}
		if _, err := Sum(context.Background(), bytes.NewReader(nil), 0, Options{PieceHash: name, PieceLength: 1}); name != "" && !errors.As(err, &u) {
			t.Errorf("Sum with piece hash %q: error = %v, want *UnknownHashError", name, err)
		}
	}
}

// naive computes what Sum should return, the obvious way.
func naive(t *testing.T, data []byte, hashes []string, pieceHash string, pieceLen int64) *Result {
	t.Helper()
	r := &Result{Size: int64(len(data)), PieceHash: pieceHash, PieceLength: pieceLen}
	for _, n := range hashes {
		h, _ := New(n)
		h.Write(data)
		r.Hashes = append(r.Hashes, Digest{Type: n, Sum: h.Sum(nil)})
	}
	if pieceHash != "" {
		r.Pieces = [][]byte{}
		for off := int64(0); off < int64(len(data)); off += pieceLen {
			end := min(off+pieceLen, int64(len(data)))
			h, _ := New(pieceHash)
			h.Write(data[off:end])
			r.Pieces = append(r.Pieces, h.Sum(nil))
		}
	}
	return r
}

func equalResults(a, b *Result) bool {
	if a.Size != b.Size || len(a.Hashes) != len(b.Hashes) || len(a.Pieces) != len(b.Pieces) {
		return false
	}
	for i := range a.Hashes {
		if a.Hashes[i].Type != b.Hashes[i].Type || !bytes.Equal(a.Hashes[i].Sum, b.Hashes[i].Sum) {
			return false
		}
	}
	for i := range a.Pieces {
		if !bytes.Equal(a.Pieces[i], b.Pieces[i]) {
			return false
		}
	}
	return true
}

func TestSumMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3*BufferSize+12345)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	cases := []struct {
		name     string
		size     int
		hashes   []string
		piece    string
		pieceLen int64
		workers  int
	}{
		{"empty", 0, []string{"sha-256"}, "sha-256", 1 << 20, 0},
		{"one byte", 1, []string{"sha-256", "md5"}, "sha-1", 1 << 20, 0},
		{"exact pieces", 4096, []string{"sha-512"}, "sha-256", 1024, 3},
		{"ragged last piece", 5000, []string{"sha-256"}, "sha-256", 1024, 2},
		{"odd piece length", 100_000, []string{"sha-384", "sha-224"}, "md5", 777, 4},
		{"pieces larger than a chunk", len(big), []string{"sha-256"}, "sha-256", 2*BufferSize + 3, 2},
		{"pieces equal to chunk", len(big), []string{"sha-256", "sha-1"}, "sha-256", BufferSize, 0},
		{"no pieces", len(big), []string{"sha-256"}, "", 0, 0},
		{"pieces only", 70_000, nil, "sha-512", 4096, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := big[:c.size]
			var progressed int64
			got, err := Sum(context.Background(), bytes.NewReader(data), int64(c.size), Options{
				Hashes: c.hashes, PieceHash: c.piece, PieceLength: c.pieceLen, Workers: c.workers,
				Progress: func(n int64) { progressed += n },
			})
			if err != nil {
				t.Fatalf("Sum: %v", err)
			}
			want := naive(t, data, c.hashes, c.piece, c.pieceLen)
			if !equalResults(got, want) {
				t.Fatalf("Sum = %+v\nwant  %+v", got, want)
			}
			if progressed != int64(c.size) {
				t.Errorf("progress total = %d, want %d", progressed, c.size)
			}
		})
	}
}

// shrinking pretends a file of size n has fewer bytes than promised.
type shrinking struct{ data []byte }

func (s shrinking) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(s.data).ReadAt(p, off)
}

func TestSumShortRead(t *testing.T) {
	data := make([]byte, 3*BufferSize)
	_, err := Sum(context.Background(), shrinking{data[:BufferSize+10]}, int64(len(data)), Options{
		Hashes: []string{"sha-256"}, PieceHash: "sha-256", PieceLength: 4096,
	})
	if !errors.Is(err, ErrShortRead) {
		t.Fatalf("Sum over a short file: error = %v, want ErrShortRead", err)
	}
}

type failing struct{ after int64 }

var errDisk = errors.New("injected I/O error")

func (f failing) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.after {
		return 0, errDisk
	}
	return len(p), nil
}

func TestSumReadErrorAndCancel(t *testing.T) {
	_, err := Sum(context.Background(), failing{after: 2 * BufferSize}, 10*BufferSize, Options{
		Hashes: []string{"sha-256"}, PieceHash: "sha-256", PieceLength: 1 << 16,
	})
	if !errors.Is(err, errDisk) {
		t.Fatalf("error = %v, want the reader's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Sum(ctx, failing{after: 1 << 40}, 10*BufferSize, Options{Hashes: []string{"sha-256"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Sum error = %v, want context.Canceled", err)
	}
}

func TestSumBadOptions(t *testing.T) {
	if _, err := Sum(context.Background(), bytes.NewReader(nil), -1, Options{}); err == nil {
		t.Error("negative size accepted")
	}
	if _, err := Sum(context.Background(), bytes.NewReader(nil), 0, Options{PieceHash: "sha-256"}); err == nil {
		t.Error("zero piece length accepted")
	}
}

func TestBufferPool(t *testing.T) {
	b := GetBuffer()
	if len(*b) != BufferSize {
		t.Fatalf("GetBuffer length %d, want %d", len(*b), BufferSize)
	}
	PutBuffer(b)
	sum, err := Bytes("sha-256", []byte("abc"))
	want := sha256.Sum256([]byte("abc"))
	if err != nil || !bytes.Equal(sum, want[:]) {
		t.Fatalf("Bytes = %x, %v", sum, err)
	}
	var _ io.ReaderAt = shrinking{}
}
