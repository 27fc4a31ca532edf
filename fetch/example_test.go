package fetch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/mlinkdev/mlink/fetch"
	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// Example downloads one file from two mirrors, one of which corrupts half of what it
// serves: the bad pieces are fetched again from the good mirror.
func Example() {
	content := make([]byte, 256<<10)
	for i := range content {
		content[i] = byte(i * 7)
	}
	good := mirrortest.New(content)
	defer good.Close()
	bad := mirrortest.New(content, mirrortest.CorruptFraction(64<<10, 0.5, 1))
	defer bad.Close()

	sum := sha256.Sum256(content)
	file := metalink.File{
		Name:   "example.bin",
		Size:   int64(len(content)),
		Hashes: []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}},
		URLs:   []metalink.URL{{URL: bad.URL(), Priority: 1}, {URL: good.URL(), Priority: 2}},
	}
	p := metalink.Pieces{Length: 64 << 10, Type: "sha-256"}
	for off := 0; off < len(content); off += 64 << 10 {
		s := sha256.Sum256(content[off : off+64<<10])
		p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
	}
	file.Pieces = []metalink.Pieces{p}

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	rep, err := fetch.Get(context.Background(), &metalink.Metalink{Files: []metalink.File{file}}, fetch.Options{Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	f := rep.Files[0]
	fmt.Println(f.Name, f.State, f.Hash[:15])
	// Output: example.bin done sha-256:660869b
}
