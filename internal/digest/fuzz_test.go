package digest

import (
	"bytes"
	"context"
	"testing"
)

// FuzzSum checks Sum against the obvious computation for arbitrary data and
// piece lengths.
func FuzzSum(f *testing.F) {
	f.Add([]byte("abc"), uint16(1), uint8(1))
	f.Add(bytes.Repeat([]byte{7}, 5000), uint16(1024), uint8(2))
	f.Add([]byte{}, uint16(3), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, plen uint16, workers uint8) {
		pl := int64(plen%4096) + 1
		opt := Options{Hashes: []string{"sha-256", "md5"}, PieceHash: "sha-1", PieceLength: pl, Workers: int(workers % 5)}
		got, err := Sum(context.Background(), bytes.NewReader(data), int64(len(data)), opt)
		if err != nil {
			t.Fatal(err)
		}
		if want := naive(t, data, opt.Hashes, opt.PieceHash, pl); !equalResults(got, want) {
			t.Fatalf("Sum(len %d, piece %d) differs from the naive result", len(data), pl)
		}
	})
}
