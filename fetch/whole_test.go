package fetch

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// hashFixture is a file of n pieces of plen bytes (the last one shorter) with its
// sha-256 piece sums and whole-file sha-256 and md5.
type hashFixture struct {
	data  []byte
	plen  int64
	n     int
	psums [][]byte
	whole []metalink.Hash
}

func newHashFixture(t *testing.T, n int, plen int64) *hashFixture {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), uint64(plen)))
	f := &hashFixture{plen: plen, n: n, data: make([]byte, int64(n)*plen-plen/3)}
	for i := range f.data {
		f.data[i] = byte(r.Uint32())
	}
	for i := 0; i < n; i++ {
		s := sha256.Sum256(f.piece(i))
		f.psums = append(f.psums, s[:])
	}
	s, m := sha256.Sum256(f.data), md5.Sum(f.data)
	f.whole = []metalink.Hash{{Type: "md5", Value: hex.EncodeToString(m[:])}, {Type: "sha-256", Value: hex.EncodeToString(s[:])}}
	return f
}

func (f *hashFixture) rng(i int) (int64, int64) {
	off := int64(i) * f.plen
	return off, min(f.plen, int64(len(f.data))-off)
}

func (f *hashFixture) piece(i int) []byte {
	off, l := f.rng(i)
	return f.data[off : off+l]
}

func (f *hashFixture) hasher(memCap int64) *wholeHasher {
	return newWholeHasher(f.whole, "sha-256", bytes.NewReader(f.data), f.n, f.rng, func([]byte) {}, memCap)
}

// TestWholeHasherPairs drives the hashing goroutine the way workers do, from several
// goroutines, pieces in a random order, some of them first sent bad (also when a bad
// one is the next piece of the whole-file hash, whose state must then be restored),
// with a memory cap that forces read-backs: every verdict must be right and both
// whole-file hashes must match at the end.
func TestWholeHasherPairs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memCap int64
		order  string
	}{
		{"in order", 1 << 20, "in"},
		{"shuffled", 1 << 20, "shuffled"},
		{"shuffled, read back", 0, "shuffled"},
		{"reversed", 8 << 10, "reversed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHashFixture(t, 97, 4<<10)
			w := f.hasher(tc.memCap)
			if w.pair != 1 {
				t.Fatalf("the sha-256 whole-file hash is not the one paired (pair=%d)", w.pair)
			}
			if w.pairs != digest.Pairable("sha-256") {
				t.Fatalf("pieces verified by the hashing goroutine: %v, want %v (SHA-NI here)", w.pairs, digest.Pairable("sha-256"))
			}
			w.start()
			order := make([]int, f.n)
			for i := range order {
				order[i] = i
			}
			r := rand.New(rand.NewPCG(7, 8))
			switch tc.order {
			case "shuffled":
				r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			case "reversed":
				for a, b := 0, len(order)-1; a < b; a, b = a+1, b-1 {
					order[a], order[b] = order[b], order[a]
				}
			}
			work := make(chan int, f.n)
			for _, i := range order {
				work <- i
			}
			close(work)
			var wg sync.WaitGroup
			errs := make(chan string, 4*f.n)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						good := append([]byte(nil), f.piece(i)...)
						if i%5 == 0 || i == 0 {
							bad := append([]byte(nil), good...)
							bad[len(bad)/2] ^= 1
							if w.verify(i, bad, f.psums[i]) {
								errs <- "a bad piece passed"
							}
						}
						if !w.verify(i, good, f.psums[i]) {
							errs <- "a good piece failed"
						}
						w.add(i, good)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Fatal(e)
			}
			sum, err := w.check()
			if err != nil {
				t.Fatal(err)
			}
			if sum != "sha-256:"+f.whole[1].Value {
				t.Fatalf("check returned %q", sum)
			}
		})
	}
}

// TestWholeHasherPairsOnlyWhereItPays: pieces whose hashes cannot pair (md5 here),
// or a whole-file hash that cannot pair with them, are verified by the workers.
func TestWholeHasherPairsOnlyWhereItPays(t *testing.T) {
	f := newHashFixture(t, 4, 1<<10)
	if w := newWholeHasher(f.whole, "md5", bytes.NewReader(f.data), f.n, f.rng, func([]byte) {}, 0); w.pairs {
		t.Error("md5 pieces go through the hashing goroutine")
	}
	if w := newWholeHasher(f.whole[:1], "sha-256", bytes.NewReader(f.data), f.n, f.rng, func([]byte) {}, 0); w.pairs {
		t.Error("sha-256 pieces with only an md5 whole-file hash go through the hashing goroutine")
	}
}

// TestWholeHasherNoWholeHash: with piece hashes only, the goroutine still verifies
// (pairing pieces with each other) and check has nothing to compare.
func TestWholeHasherNoWholeHash(t *testing.T) {
	f := newHashFixture(t, 40, 1<<10)
	w := newWholeHasher(nil, "sha-256", bytes.NewReader(f.data), f.n, f.rng, func([]byte) {}, 1<<20)
	w.start()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for i := 0; i < f.n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := append([]byte(nil), f.piece(i)...)
			if i%3 == 0 {
				p[0] ^= 0xff
			}
			if w.verify(i, p, f.psums[i]) != (i%3 != 0) {
				mu.Lock()
				wrong++
				mu.Unlock()
			}
			w.add(i, p)
		}()
	}
	wg.Wait()
	if wrong != 0 {
		t.Fatalf("%d wrong verdicts", wrong)
	}
	if sum, err := w.check(); err != nil || sum != "" {
		t.Fatalf("check: %q, %v", sum, err)
	}
}

// TestWholeHasherDetectsBadWhole: pieces that pass their own hashes but make another
// file (a metalink whose whole-file hash disagrees) fail check with ErrVerify.
func TestWholeHasherDetectsBadWhole(t *testing.T) {
	f := newHashFixture(t, 10, 1<<10)
	f.whole[1].Value = hex.EncodeToString(make([]byte, 32))
	w := f.hasher(1 << 20)
	w.start()
	for i := f.n - 1; i >= 0; i-- {
		if !w.verify(i, f.piece(i), f.psums[i]) {
			t.Fatal("good piece failed")
		}
		w.add(i, append([]byte(nil), f.piece(i)...))
	}
	if _, err := w.check(); err == nil {
		t.Fatal("a whole-file hash mismatch passed")
	}
}

// TestGetPairedHashingPieceSizes: whole downloads through the hashing goroutine with
// large and odd piece lengths, a corrupting mirror beside two good ones, and both an
// md5 and a sha-256 whole-file hash: the file comes out right (so every bad piece was
// caught and both whole-file hashes matched).
func TestGetPairedHashingPieceSizes(t *testing.T) {
	for _, plen := range []int64{4 << 20, 3 << 20, 48 << 10} {
		t.Run(fmt.Sprint(plen), func(t *testing.T) {
			size := 5*plen + plen/3
			data, f := testFile(t, "f.bin", size, plen, uint64(plen))
			m := md5.Sum(data)
			f.Hashes = append(f.Hashes, metalink.Hash{Type: "md5", Value: hex.EncodeToString(m[:])})
			bad := mirrortest.Start(t, data, mirrortest.CorruptFraction(plen, 0.5, 3))
			g1 := mirrortest.Start(t, data, mirrortest.Throttle(float64(8*plen)))
			g2 := mirrortest.Start(t, data)
			o := fastOpts(t.TempDir())
			o.MaxBadPieces = 3
			rep, err := runGet(t, f, o, bad.URL(), g1.URL(), g2.URL())
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			assertFile(t, o.Dir, "f.bin", data)
			r := mirrorReport(t, rep, bad.URL())
			t.Logf("bad mirror: %d bad pieces, %d good bytes, state %s", r.BadPieces, r.Good, r.State)
			if r.BadPieces != rep.Files[0].BadPieces {
				t.Errorf("bad pieces: mirror %d, file %d", r.BadPieces, rep.Files[0].BadPieces)
			}
		})
	}
}
