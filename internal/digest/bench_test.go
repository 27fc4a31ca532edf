package digest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"testing"

	sha256simd "github.com/minio/sha256-simd"
)

// BenchmarkSHA256 compares the two SHA-256 implementations on one stream of 1 MiB
// writes (the shape of Sum's whole-file hash). doc.go records the result.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 1<<20)
	for _, impl := range []struct {
		name string
		new  func() hash.Hash
	}{{"crypto", sha256.New}, {"simd", sha256simd.New}} {
		b.Run(impl.name, func(b *testing.B) {
			h := impl.new()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				h.Write(buf)
			}
		})
	}
}

// BenchmarkSum is Sum over an in-memory 64 MiB file with sha-256 whole-file and
// sha-256 1 MiB pieces (the publish default).
func BenchmarkSum(b *testing.B) {
	data := make([]byte, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_, err := Sum(context.Background(), bytes.NewReader(data), int64(len(data)), Options{
			Hashes: []string{"sha-256"}, PieceHash: "sha-256", PieceLength: 1 << 20,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
