package fetch

import (
	"context"
	"os"
	"testing"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// BenchmarkGet downloads 64 MiB (1 MiB sha-256 pieces) from four unthrottled loopback
// mirrors: the CPU-bound case of bench/peers.sh, for profiling.
func BenchmarkGet(b *testing.B) {
	const size = 64 << 20
	data, f := testFile(b, "f.bin", size, 1<<20, 40)
	for range 4 {
		m := mirrortest.Start(b, data)
		f.URLs = append(f.URLs, metalink.URL{URL: m.URL()})
	}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		dir := b.TempDir()
		if _, err := Get(context.Background(), ml, Options{Dir: dir}); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(dir)
	}
}
