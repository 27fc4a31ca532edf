package fetch

import (
	"crypto/subtle"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/metalink"
)

// wholeHasher does a file's hashing: every supported whole-file hash, incrementally
// in piece order as pieces complete, and (between start and stop) the piece hashes
// that workers ask for with verify.
//
// Pieces that complete ahead of order are kept in memory up to a cap; beyond it (and
// for pieces present before the run) they are read back from the part file when their
// turn comes, so a download whose pieces complete in order is never read twice.
//
// Between start and stop one goroutine does the whole-file hash and, where hashes
// pair (pairs: SHA-256 on SHA-NI), the piece hashes too, two at a time where it can
// (digest.Write2: two SHA-256 streams cost little more than one): a piece to
// verify together with the next piece of the whole-file hash, or, when the piece to
// verify is itself the next one, both hashes over its bytes in one pass (the
// whole-file state is saved first and restored if the piece turns out bad), or two
// pieces to verify together. On an unthrottled four-mirror download (bench/peers.sh
// unthrottled) perf puts the hashing at about 46% of mlink's CPU, from 59% when each
// worker hashed its own pieces and a goroutine the whole file.
type wholeHasher struct {
	want    []metalink.Hash
	hs      []hash.Hash
	pair    int  // index in hs of the hash paired with piece hashes
	canSnap bool // every hash in hs can save and restore its state
	pairs   bool // pieces are verified by the hashing goroutine (newWholeHasher)
	ptype   string
	src     io.ReaderAt
	pieceR  func(i int) (off, length int64)
	n       int
	free    func([]byte)

	// in feeds the hashing goroutine between start and stop (nil: hash inline).
	in   chan hashMsg
	done chan struct{}

	mu         sync.Mutex
	next       int
	ready      map[int][]byte // completed ahead of order; nil value: read from src
	readyBytes int64
	cap        int64
	err        error
	scratch    []byte
}

func newWholeHasher(want []metalink.Hash, ptype string, src io.ReaderAt, n int, pieceR func(int) (int64, int64), free func([]byte), memCap int64) *wholeHasher {
	w := &wholeHasher{ptype: ptype, src: src, pieceR: pieceR, n: n, free: free, ready: map[int][]byte{}, cap: memCap, canSnap: true}
	for _, h := range want {
		hh, err := digest.New(h.Type)
		if err != nil {
			continue // unsupported: not verified (the caller decided whether that is acceptable)
		}
		_, m := hh.(encoding.BinaryMarshaler)
		_, u := hh.(encoding.BinaryUnmarshaler)
		w.canSnap = w.canSnap && m && u
		w.want = append(w.want, h)
		w.hs = append(w.hs, hh)
	}
	for k, h := range w.want {
		if h.Type == ptype { // the whole-file hash of the piece hash's type pairs with it
			w.pair = k
			break
		}
	}
	// Pieces are verified by the hashing goroutine only where that pays: their hashes
	// pair with each other and with the whole-file hash paired with them. Otherwise one
	// goroutine doing all of it would be slower than the workers hashing their own
	// pieces in parallel (as on CPUs without SHA-NI).
	w.pairs = digest.Pairable(ptype) && (len(w.hs) == 0 || digest.Pairable(w.want[w.pair].Type))
	return w
}

// hashMsg is a piece handed to the hashing goroutine: a verified piece for the
// whole-file hash (add; reply nil; buf's ownership passes, nil = read it back), or a
// piece to verify against sum (reply gets the verdict; buf is only borrowed until then).
type hashMsg struct {
	i     int
	buf   []byte
	sum   []byte
	reply chan bool
}

// start moves the hashing to a goroutine of its own, so that a worker handing over a
// verified piece goes back to its connection at once. stop ends it; check calls stop.
func (w *wholeHasher) start() {
	if (len(w.hs) == 0 && !w.pairs) || w.in != nil {
		return
	}
	w.in = make(chan hashMsg, 16)
	w.done = make(chan struct{})
	go w.loop()
}

// stop waits for the queued pieces to be hashed and ends the goroutine. Idempotent;
// call it only when no add or verify can still happen.
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

// add takes ownership of buf (which may be nil: read from the file) for piece i,
// verified.
func (w *wholeHasher) add(i int, buf []byte) {
	if w.in != nil {
		w.in <- hashMsg{i: i, buf: buf}
		return
	}
	w.addSync(i, buf)
}

// verify reports whether buf, the received bytes of piece i, hashes to sum. The
// hashing goroutine does it where hashes pair (see pairs); otherwise the calling
// worker does, in parallel with the others.
func (w *wholeHasher) verify(i int, buf, sum []byte) bool {
	if w.in == nil || !w.pairs {
		h, _ := digest.Get(w.ptype)
		defer digest.Put(w.ptype, h)
		h.Write(buf)
		return subtle.ConstantTimeCompare(h.Sum(nil), sum) == 1
	}
	reply := make(chan bool, 1)
	w.in <- hashMsg{i: i, buf: buf, sum: sum, reply: reply}
	return <-reply
}

func (w *wholeHasher) addSync(i int, buf []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.recordLocked(i, buf) {
		return
	}
	for w.next < w.n {
		if _, ok := w.ready[w.next]; !ok {
			break
		}
		w.feedLocked(w.takeLocked(), nil, nil)
	}
}

// recordLocked files verified piece i for the whole-file hash; it reports whether
// there is anything to hash now.
func (w *wholeHasher) recordLocked(i int, buf []byte) bool {
	if len(w.hs) == 0 || i < w.next {
		// Nothing to hash, or hashed already (from the bytes it was verified in).
		if buf != nil {
			w.free(buf)
		}
		return false
	}
	if buf != nil && i != w.next && w.readyBytes+int64(len(buf)) > w.cap {
		w.free(buf)
		buf = nil
	}
	if buf != nil {
		w.readyBytes += int64(len(buf))
	}
	w.ready[i] = buf
	return i == w.next
}

// wholeReadyLocked: the next piece of the whole-file hash is at hand.
func (w *wholeHasher) wholeReadyLocked() bool {
	_, ok := w.ready[w.next]
	return ok && w.next < w.n && len(w.hs) > 0
}

// takeLocked removes the next piece from ready and returns it as a piece to feed.
func (w *wholeHasher) takeLocked() pieceData {
	i := w.next
	b := w.ready[i]
	delete(w.ready, i)
	if b != nil {
		w.readyBytes -= int64(len(b))
		return pieceData{i: i, buf: b, owned: true}
	}
	off, l := w.pieceR(i)
	if int64(cap(w.scratch)) < l {
		w.scratch = make([]byte, l)
	}
	b = w.scratch[:l]
	if _, err := w.src.ReadAt(b, off); err != nil && w.err == nil {
		w.err = fmt.Errorf("reading back piece %d: %w", i, err)
	}
	return pieceData{i: i, buf: b}
}

// pieceData is the next piece of the whole-file hash; owned: free buf after.
type pieceData struct {
	i     int
	buf   []byte
	owned bool
}

// feedLocked feeds piece d to the whole-file hashes; with ph it also writes pb to ph
// in the same pass (Write2).
func (w *wholeHasher) feedLocked(d pieceData, ph hash.Hash, pb []byte) {
	w.next = d.i + 1
	for k, h := range w.hs {
		if k == w.pair && ph != nil {
			digest.Write2(h, d.buf, ph, pb)
		} else {
			h.Write(d.buf)
		}
	}
	if d.owned {
		w.free(d.buf)
	}
}

func (w *wholeHasher) loop() {
	defer close(w.done)
	var pending []hashMsg // pieces to verify, in arrival order
	open := true
	take := func(m hashMsg, ok bool) {
		switch {
		case !ok:
			open = false
		case m.reply != nil:
			pending = append(pending, m)
		default:
			w.mu.Lock()
			w.recordLocked(m.i, m.buf)
			w.mu.Unlock()
		}
	}
	for {
		w.mu.Lock()
		wholeReady := w.wholeReadyLocked()
		w.mu.Unlock()
		if len(pending) == 0 && !wholeReady {
			if !open {
				return
			}
			m, ok := <-w.in
			take(m, ok)
			continue
		}
	drain:
		for open {
			select {
			case m, ok := <-w.in:
				take(m, ok)
			default:
				break drain
			}
		}
		pending = w.step(pending)
	}
}

// step does one unit of hashing, two hashes at once where it can, and returns what
// is still pending.
func (w *wholeHasher) step(pending []hashMsg) []hashMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wholeReadyLocked() {
		d := w.takeLocked()
		if len(pending) == 0 {
			w.feedLocked(d, nil, nil)
			return pending
		}
		v := pending[0]
		ph, _ := digest.Get(w.ptype)
		w.feedLocked(d, ph, v.buf)
		answer(v, ph, w.ptype)
		return pending[1:]
	}
	if len(pending) == 0 {
		return pending
	}
	for k, v := range pending {
		if v.i != w.next || len(w.hs) == 0 || !w.canSnap {
			continue
		}
		// The next piece of the whole-file hash: both hashes over its bytes at once,
		// undone if the piece is bad.
		saved := make([][]byte, len(w.hs))
		for x, h := range w.hs {
			saved[x], _ = h.(encoding.BinaryMarshaler).MarshalBinary()
		}
		ph, _ := digest.Get(w.ptype)
		w.feedLocked(pieceData{i: v.i, buf: v.buf}, ph, v.buf)
		if !answer(v, ph, w.ptype) {
			w.next = v.i
			for x, h := range w.hs {
				if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(saved[x]); err != nil && w.err == nil {
					w.err = fmt.Errorf("restoring the whole-file hash: %w", err)
				}
			}
		}
		return append(pending[:k], pending[k+1:]...)
	}
	a := pending[0]
	ha, _ := digest.Get(w.ptype)
	if len(pending) == 1 {
		ha.Write(a.buf)
		answer(a, ha, w.ptype)
		return pending[1:]
	}
	b := pending[1]
	hb, _ := digest.Get(w.ptype)
	digest.Write2(ha, a.buf, hb, b.buf)
	answer(a, ha, w.ptype)
	answer(b, hb, w.ptype)
	return pending[2:]
}

// answer sends v its verdict from ph (then returned to the pool) and returns it.
func answer(v hashMsg, ph hash.Hash, ptype string) bool {
	ok := subtle.ConstantTimeCompare(ph.Sum(nil), v.sum) == 1
	digest.Put(ptype, ph)
	v.reply <- ok
	return ok
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
