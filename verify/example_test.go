package verify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

func hexSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// A file of three 4-byte pieces whose middle piece was damaged on disk.
func ExampleFile() {
	good := []byte("abcdefghijkl")
	f := &metalink.File{
		Name:   "x.bin",
		Size:   12,
		Hashes: []metalink.Hash{{Type: "sha-256", Value: hexSHA256(good)}},
		Pieces: []metalink.Pieces{{Length: 4, Type: "sha-256", Hashes: []string{
			hexSHA256(good[0:4]), hexSHA256(good[4:8]), hexSHA256(good[8:12]),
		}}},
	}
	local := []byte("abcdefXhijkl")
	res, err := verify.File(context.Background(), bytes.NewReader(local), int64(len(local)), f, verify.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("good:", res.Good)
	fmt.Println("bad pieces:", res.BadPieces)
	fmt.Println("bad ranges:", res.BadRanges)
	fmt.Println(res.Hashes[0].Type, "match:", res.Hashes[0].Match)
	// Output:
	// good: false
	// bad pieces: [1]
	// bad ranges: [{4 8}]
	// sha-256 match: false
}
