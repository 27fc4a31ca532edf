package fetch

import (
	"net/http"
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

// TestQuarantineFinishesPiecesInFlight: when a mirror is quarantined, its other
// connections finish the piece each is receiving (verified like any other, and used
// when good) instead of throwing the received part away; nothing after that piece is
// read. The bad mirror corrupts the first range it serves, at once, and answers every
// later one 100 ms late, so that the first fails (quarantine at the first bad piece)
// while the mirror's other connections are in the middle of good pieces.
func TestQuarantineFinishesPiecesInFlight(t *testing.T) {
	const plen = 64 << 10
	data, f := testFile(t, "f.bin", 48*plen, plen, 21)
	var served atomic.Int32
	firstBad := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.Header.Get("Range") == "" {
				h.ServeHTTP(w, r)
				return
			}
			if served.Add(1) == 1 {
				h.ServeHTTP(&flipFirst{ResponseWriter: w}, r)
				return
			}
			time.Sleep(100 * time.Millisecond)
			h.ServeHTTP(w, r)
		})
	}
	bad := mirrortest.Start(t, data, mirrortest.Throttle(200<<10), mirrortest.Wrap(firstBad))
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
	if r.Good < plen {
		t.Errorf("the quarantined mirror's pieces in flight were thrown away (good bytes %d; report %+v)", r.Good, r)
	}
	if r.Good > 3*plen {
		t.Errorf("the quarantined mirror delivered %d good bytes, more than the 3 pieces it was receiving", r.Good)
	}
}
