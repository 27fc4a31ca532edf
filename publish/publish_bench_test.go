package publish

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGenerateLargeFile publishes one 1 GiB file from the page cache with
// sha-256 whole-file and sha-256 piece hashes of the automatic size and no hash
// cache: issue 3's performance target (bench/publish.sh times the command against
// sha256sum on the same file in the same run).
func BenchmarkGenerateLargeFile(b *testing.B) {
	const size = 1 << 30
	dir := b.TempDir()
	p := filepath.Join(dir, "big.bin")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	chunk := randBytes(1<<20, 42)
	for range size / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	// Warm the page cache.
	if f, err := os.Open(p); err == nil {
		io.Copy(io.Discard, f)
		f.Close()
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		res, err := Generate(context.Background(), []string{p}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if want := (size-1)/AutoPieceSize(size) + 1; res.Hashed != 1 || int64(len(res.Documents[0].Metalink.Files[0].Pieces[0].Hashes)) != want {
			b.Fatalf("unexpected result %+v", res)
		}
	}
}
