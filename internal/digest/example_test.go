package digest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlinkdev/mlink/internal/digest"
)

func ExampleSum() {
	data := strings.Repeat("mlink", 1000) // 5000 bytes
	res, err := digest.Sum(context.Background(), strings.NewReader(data), int64(len(data)), digest.Options{
		Hashes: []string{"sha-256"}, PieceHash: "sha-256", PieceLength: 2048,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(res.Pieces), "pieces")
	fmt.Println(res.Hex("sha-256") != "")
	// Output:
	// 3 pieces
	// true
}

func ExampleHex() {
	s, _ := digest.Hex("sha-256", []byte("abc"))
	fmt.Println(s)
	// Output: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
}
