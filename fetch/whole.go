package fetch

import (
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/metalink"
)

// wholeHasher computes every supported whole-file hash incrementally, in piece order,
// while pieces complete. Pieces that complete ahead of order are kept in memory up
// to a cap; beyond it (and for pieces present before the run) they are read back from
// the part file when their turn comes, so a download whose pieces complete in order
// is never read twice.
type wholeHasher struct {
	want   []metalink.Hash
	hs     []hash.Hash
	src    io.ReaderAt
	pieceR func(i int) (off, length int64)
	n      int
	free   func([]byte)

	// in feeds the hashing goroutine between start and stop (nil: add hashes inline).
	in   chan pieceBuf
	done chan struct{}

	mu         sync.Mutex
	next       int
	ready      map[int][]byte // completed ahead of order; nil value: read from src
	readyBytes int64
	cap        int64
	err        error
	scratch    []byte
}

func newWholeHasher(want []metalink.Hash, src io.ReaderAt, n int, pieceR func(int) (int64, int64), free func([]byte), memCap int64) *wholeHasher {
	w := &wholeHasher{src: src, pieceR: pieceR, n: n, free: free, ready: map[int][]byte{}, cap: memCap}
	for _, h := range want {
		hh, err := digest.New(h.Type)
		if err != nil {
			continue // unsupported: not verified (the caller decided whether that is acceptable)
		}
		w.want = append(w.want, h)
		w.hs = append(w.hs, hh)
	}
	return w
}

type pieceBuf struct {
	i   int
	buf []byte
}

// start moves the hashing to a goroutine of its own, so that a worker handing over a
// piece goes back to its connection at once (at most 4 pieces queue up; then add
// blocks). stop ends it; check calls stop.
func (w *wholeHasher) start() {
	if len(w.hs) == 0 || w.in != nil {
		return
	}
	w.in = make(chan pieceBuf, 4)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		for pb := range w.in {
			w.addSync(pb.i, pb.buf)
		}
	}()
}

// stop waits for the queued pieces to be hashed and ends the goroutine. Idempotent;
// call it only when no add can still happen.
func (w *wholeHasher) stop() {
	if w.in == nil {
		return
	}
	close(w.in)
	<-w.done
	w.in = nil
}

// present marks piece i as already in the part file (resume, repair).
func (w *wholeHasher) present(i int) { w.add(i, nil) }

// add takes ownership of buf (which may be nil: read from the file) for piece i.
func (w *wholeHasher) add(i int, buf []byte) {
	if w.in != nil {
		w.in <- pieceBuf{i, buf}
		return
	}
	w.addSync(i, buf)
}

func (w *wholeHasher) addSync(i int, buf []byte) {
	if len(w.hs) == 0 {
		if buf != nil {
			w.free(buf)
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if i != w.next {
		if buf != nil && w.readyBytes+int64(len(buf)) > w.cap {
			w.free(buf)
			buf = nil
		}
		if buf != nil {
			w.readyBytes += int64(len(buf))
		}
		w.ready[i] = buf
		return
	}
	w.feedLocked(i, buf)
	for w.next < w.n {
		b, ok := w.ready[w.next]
		if !ok {
			break
		}
		delete(w.ready, w.next)
		if b != nil {
			w.readyBytes -= int64(len(b))
		}
		w.feedLocked(w.next, b)
	}
}

func (w *wholeHasher) feedLocked(i int, buf []byte) {
	w.next = i + 1
	if buf == nil {
		off, l := w.pieceR(i)
		if int64(cap(w.scratch)) < l {
			w.scratch = make([]byte, l)
		}
		buf = w.scratch[:l]
		if _, err := w.src.ReadAt(buf, off); err != nil && w.err == nil {
			w.err = fmt.Errorf("reading back piece %d: %w", i, err)
		}
		for _, h := range w.hs {
			h.Write(buf)
		}
		return
	}
	for _, h := range w.hs {
		h.Write(buf)
	}
	w.free(buf)
}

// check compares every hash once all pieces were added; it returns the strongest
// hash that matched ("sha-256:hex") or an error naming the mismatch.
func (w *wholeHasher) check() (string, error) {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return "", w.err
	}
	if len(w.hs) == 0 {
		return "", nil
	}
	if w.next != w.n {
		return "", fmt.Errorf("internal: hashed %d of %d pieces", w.next, w.n)
	}
	best, bestS := "", 0
	for k, h := range w.hs {
		sum := h.Sum(nil)
		want, err := hex.DecodeString(w.want[k].Value)
		if err != nil || subtle.ConstantTimeCompare(sum, want) != 1 {
			return "", fmt.Errorf("%w: %s is %x, metalink says %s", ErrVerify, w.want[k].Type, sum, w.want[k].Value)
		}
		if s := metalink.HashStrength(w.want[k].Type); s > bestS {
			best, bestS = w.want[k].Type+":"+w.want[k].Value, s
		}
	}
	return best, nil
}
