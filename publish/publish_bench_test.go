package publish

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGenerateLargeFile publishes one 256 MiB file from the page cache with
// sha-256 whole-file and sha-256 1 MiB piece hashes and no hash cache: the
// shape of issue 3's performance target (bench/publish.sh does 1 GiB and
// compares with sha256sum in the same run).
func BenchmarkGenerateLargeFile(b *testing.B) {
	const size = 256 << 20
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
		if res.Hashed != 1 || len(res.Documents[0].Metalink.Files[0].Pieces[0].Hashes) != 256 {
			b.Fatalf("unexpected result %+v", res)
		}
	}
}
