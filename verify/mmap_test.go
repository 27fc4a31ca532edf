//go:build unix

package verify

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func writeTemp(t *testing.T, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFileMapped runs the judgments of the ReadAt path through the memory-mapped path
// (an *os.File of at least minMap bytes) and checks they agree.
func TestFileMapped(t *testing.T) {
	const pieceLen = 1<<20 + 3 // pieces straddle chunks
	data := testData(minMap+5*pieceLen+11, 21)
	f := entry(data, pieceLen)
	if _, _, ok := mapFile(writeTemp(t, data), int64(len(data))); !ok {
		t.Skip("mmap unavailable here")
	}
	bad := bytes.Clone(data)
	bad[3*pieceLen+1] ^= 1
	bad[len(bad)-1] ^= 1
	for _, tc := range []struct {
		name    string
		content []byte
	}{{"good", data}, {"flipped", bad}, {"longer", append(bytes.Clone(data), 1, 2)}} {
		t.Run(tc.name, func(t *testing.T) {
			fh := writeTemp(t, tc.content)
			var progress int64
			got, err := File(context.Background(), fh, int64(len(tc.content)), f, Options{Progress: func(n int64) { progress += n }})
			if err != nil {
				t.Fatal(err)
			}
			want, err := File(context.Background(), bytes.NewReader(tc.content), int64(len(tc.content)), f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("mapped %+v\nreadat %+v", got, want)
			}
			if progress != int64(len(data)) {
				t.Errorf("progress %d, want %d", progress, len(data))
			}
		})
	}
}

// TestFileMappedShrunk: pages of a mapping beyond the end of the file fault (as when the
// file is truncated during verification); that must be an error, not a crash.
func TestFileMappedShrunk(t *testing.T) {
	data := testData(100<<10, 22)
	fh := writeTemp(t, data)
	const span = 16 << 20
	m, unmap, ok := mapSpan(fh, span)
	if !ok {
		t.Skip("mmap unavailable here")
	}
	defer unmap()
	f := entry(testData(span, 23), 1<<20)
	var whole []*wholeHasher
	h, _ := newHash("sha-256")
	whole = append(whole, &wholeHasher{check: HashCheck{Type: "sha-256"}, h: h})
	s := &scan{r: fh, span: span, fileSize: span, pieces: &f.Pieces[0], good: make([]bool, 16), whole: whole, mapped: m}
	if _, err := s.run(context.Background()); !errors.Is(err, ErrFileChanged) {
		t.Fatalf("run over a shrunk mapping: %v, want ErrFileChanged", err)
	}
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
