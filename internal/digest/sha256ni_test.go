package digest

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"hash"
	"math/rand/v2"
	"testing"
)

// TestSHA256NIMatchesStdlib: every length 0..300 and then random sizes, written in
// random splits, gives crypto/sha256's sum, and so does each side of Write2 with any
// two lengths (shared or distinct data, partial blocks pending on either side).
func TestSHA256NIMatchesStdlib(t *testing.T) {
	if !hasSHANI {
		t.Skip("no SHA-NI on this CPU: sha-256 is crypto/sha256 here, Write2 writes one after the other")
	}
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	split := func(h hash.Hash, p []byte) {
		for len(p) > 0 {
			k := min(len(p), r.IntN(200))
			if r.IntN(4) == 0 {
				k = min(len(p), r.IntN(1<<16))
			}
			h.Write(p[:k])
			p = p[k:]
		}
	}
	lengths := []int{}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for range 50 {
		lengths = append(lengths, r.IntN(len(data)))
	}
	for _, n := range lengths {
		want := sha256.Sum256(data[:n])
		h := newSHA256NI()
		split(h, data[:n])
		if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("length %d: %x, want %x", n, got, want)
		}
	}
	for range 300 {
		a, b := newSHA256NI(), newSHA256NI()
		preA, preB := r.IntN(130), r.IntN(130)
		a.Write(data[:preA])
		b.Write(data[:preB])
		offB := r.IntN(1 << 10)
		if r.IntN(3) == 0 {
			offB = 0 // the same bytes on both sides
		}
		na, nb := r.IntN(1<<14), r.IntN(1<<14)
		if r.IntN(2) == 0 {
			nb = na
		}
		pa, pb := data[preA:preA+na], data[offB:offB+nb]
		Write2(a, pa, b, pb)
		wa := sha256.New()
		wa.Write(data[:preA])
		wa.Write(pa)
		wb := sha256.New()
		wb.Write(data[:preB])
		wb.Write(pb)
		if !bytes.Equal(a.Sum(nil), wa.Sum(nil)) || !bytes.Equal(b.Sum(nil), wb.Sum(nil)) {
			t.Fatalf("Write2 after %d/%d bytes with %d/%d more (offB %d): wrong sum", preA, preB, na, nb, offB)
		}
	}
}

// TestWrite2Fallbacks: one side not ours, or the same hasher twice, is written in turn.
func TestWrite2Fallbacks(t *testing.T) {
	p, q := bytes.Repeat([]byte("abc"), 1000), bytes.Repeat([]byte("xyz"), 700)
	a, _ := New("sha-256")
	b := sha256.New()
	Write2(a, p, b, q)
	if wa, wb := sha256.Sum256(p), sha256.Sum256(q); !bytes.Equal(a.Sum(nil), wa[:]) || !bytes.Equal(b.Sum(nil), wb[:]) {
		t.Fatal("Write2 with a crypto/sha256 side: wrong sums")
	}
	c, _ := New("sha-256")
	Write2(c, p, c, q)
	w := sha256.Sum256(append(append([]byte(nil), p...), q...))
	if !bytes.Equal(c.Sum(nil), w[:]) {
		t.Fatal("Write2 with one hasher twice is not p then q")
	}
	m, _ := New("md5")
	d, _ := New("sha-256")
	Write2(m, p, d, p)
	if w := sha256.Sum256(p); !bytes.Equal(d.Sum(nil), w[:]) {
		t.Fatal("Write2 with an md5 side: wrong sha-256")
	}
}

// TestSHA256Snapshot: a saved state restores exactly, and a corrupt one is refused.
func TestSHA256Snapshot(t *testing.T) {
	h, _ := New("sha-256")
	h.Write(bytes.Repeat([]byte{7}, 1000))
	st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("more"))
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(bytes.Repeat([]byte{7}, 1000))
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("restored state gives another sum")
	}
	if hasSHANI {
		bad := append([]byte(nil), st...)
		bad[len(bad)-9] = 63 // nx that does not match the length
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(bad); err == nil {
			t.Fatal("inconsistent state accepted")
		}
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st[:10]); err == nil {
			t.Fatal("short state accepted")
		}
	}
}

func BenchmarkWrite2(b *testing.B) {
	p, q := make([]byte, 1<<20), make([]byte, 1<<20)
	b.Run("two-crypto-sha256", func(b *testing.B) {
		b.SetBytes(2 << 20)
		x, y := sha256.New(), sha256.New()
		for b.Loop() {
			x.Write(p)
			y.Write(q)
		}
	})
	b.Run("Write2", func(b *testing.B) {
		b.SetBytes(2 << 20)
		x, _ := New("sha-256")
		y, _ := New("sha-256")
		for b.Loop() {
			Write2(x, p, y, q)
		}
	})
}

// FuzzWrite2 feeds two hashers from New("sha-256") through Write and Write2 in
// fuzzed splits and compares both sums with crypto/sha256's.
func FuzzWrite2(f *testing.F) {
	f.Add([]byte("abc"), []byte("defgh"), uint16(1), uint16(64), false)
	f.Add(bytes.Repeat([]byte{1}, 200), bytes.Repeat([]byte{2}, 130), uint16(63), uint16(65), true)
	f.Fuzz(func(t *testing.T, pa, pb []byte, cutA, cutB uint16, same bool) {
		if same {
			pb = pa
		}
		a, _ := New("sha-256")
		b, _ := New("sha-256")
		ka, kb := min(int(cutA), len(pa)), min(int(cutB), len(pb))
		a.Write(pa[:ka]) // leaves a partial block pending on either side
		b.Write(pb[:kb])
		Write2(a, pa[ka:], b, pb[kb:])
		Write2(a, nil, b, pb[:0])
		wa, wb := sha256.Sum256(pa), sha256.Sum256(pb)
		if !bytes.Equal(a.Sum(nil), wa[:]) || !bytes.Equal(b.Sum(nil), wb[:]) {
			t.Fatalf("Write2 sums differ from crypto/sha256 (lengths %d/%d, cuts %d/%d)", len(pa), len(pb), ka, kb)
		}
	})
}
