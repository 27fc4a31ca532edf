package fetch

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
)

// flipFirst flips the first body byte written through it.
type flipFirst struct {
	http.ResponseWriter
	done bool
}

func (f *flipFirst) Write(p []byte) (int, error) {
	if !f.done && len(p) > 0 {
		f.done = true
		q := append([]byte(nil), p...)
		q[0] ^= 0xff
		return f.ResponseWriter.Write(q)
	}
	return f.ResponseWriter.Write(p)
}

// TestQuarantineFinishesPiecesInFlight: when a mirror that has also sent good pieces
// is quarantined, its other connections finish the piece each is receiving (verified
// like any other, and used when good) instead of throwing the received part away;
// nothing after that piece is read. The mirror serves its first range at once and
// right, its second 350 ms late and corrupt (quarantine at that first bad piece), and
// every later one 450 ms late and right, so that those are in the middle of good
// pieces at the quarantine. A mirror that has sent nothing good is cut at once (the
// second case: every range corrupt).
func TestQuarantineFinishesPiecesInFlight(t *testing.T) {
	const plen = 64 << 10
	data, f := testFile(t, "f.bin", 48*plen, plen, 21)
	var served atomic.Int32
	secondBad := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.Header.Get("Range") == "" {
				h.ServeHTTP(w, r)
				return
			}
			switch served.Add(1) {
			case 1:
				h.ServeHTTP(w, r)
			case 2:
				time.Sleep(350 * time.Millisecond)
				h.ServeHTTP(&flipFirst{ResponseWriter: w}, r)
			default:
				time.Sleep(450 * time.Millisecond)
				h.ServeHTTP(w, r)
			}
		})
	}
	bad := mirrortest.Start(t, data, mirrortest.Throttle(200<<10), mirrortest.Wrap(secondBad))
	good := mirrortest.Start(t, data, mirrortest.Throttle(1<<20))
	o := fastOpts(t.TempDir())
	o.MaxBadPieces = 1
	o.PerMirror = 4
	rep, err := runGet(t, f, o, bad.URL(), good.URL())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	assertFile(t, o.Dir, "f.bin", data)
	r := mirrorReport(t, rep, bad.URL())
	if r.State != MirrorQuarantined || r.BadPieces != 1 {
		t.Fatalf("bad mirror: state %s, %d bad pieces; want quarantined after 1 (report %+v)", r.State, r.BadPieces, r)
	}
	if r.Good < 2*plen {
		t.Errorf("the quarantined mirror's pieces in flight were thrown away (good bytes %d, its first piece is %d; report %+v)", r.Good, plen, r)
	}
	if r.Good > 5*plen {
		t.Errorf("the quarantined mirror delivered %d good bytes, more than its first piece and the 3 it was receiving", r.Good)
	}

	// Every range corrupt: nothing good from it, so nothing in flight is finished.
	all := mirrortest.Start(t, data, mirrortest.Throttle(200<<10), mirrortest.CorruptFraction(plen, 1, 3))
	o = fastOpts(t.TempDir())
	o.MaxBadPieces = 1
	rep, err = runGet(t, f, o, all.URL(), good.URL())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	assertFile(t, o.Dir, "f.bin", data)
	if r := mirrorReport(t, rep, all.URL()); r.State != MirrorQuarantined || r.BadPieces != 1 {
		t.Errorf("corrupting mirror: %+v; want quarantined at its first bad piece, its other pieces cut", r)
	}
}

// A piece that fails its hash is marked bad from its mirror before it is given back:
// given back first, another connection of the same mirror could take it in between
// and fetch the same bad copy again. Here every piece of one mirror is bad, it is
// never quarantined, and it has many connections always looking for work, so the
// window would be hit: no (mirror, piece) may be reported bad twice.
func TestBadPieceNeverRefetchedFromSameMirror(t *testing.T) {
	data, f := testFile(t, "f.bin", 400*(4<<10), 4<<10, 41)
	evil := mirrortest.Start(t, data, mirrortest.CorruptFraction(4<<10, 1, 7))
	good := mirrortest.Start(t, data, mirrortest.Throttle(2<<20))
	dir := t.TempDir()
	o := fastOpts(dir)
	o.MaxBadPieces = 1 << 20
	o.PerMirror = 16
	var mu sync.Mutex
	seen := map[int]int{}
	o.OnEvent = func(ev Event) {
		if ev.Kind == EventPieceBad && ev.Mirror == Redact(evil.URL()) {
			mu.Lock()
			seen[ev.Piece]++
			mu.Unlock()
		}
	}
	if _, err := runGet(t, f, o, evil.URL(), good.URL()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if len(seen) == 0 {
		t.Fatal("the corrupting mirror sent no piece")
	}
	for p, k := range seen {
		if k > 1 {
			t.Errorf("piece %d fetched bad %d times from the same mirror", p, k)
		}
	}
}
