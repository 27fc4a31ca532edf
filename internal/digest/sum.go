package digest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// Options says what Sum computes. The zero value computes nothing but still reads
// the file once (useful only to check it is readable).
type Options struct {
	// Hashes are the canonical names of the whole-file hashes to compute.
	Hashes []string
	// PieceHash is the canonical name of the piece hash; empty for no piece hashes.
	PieceHash string
	// PieceLength is the piece length in bytes; required (> 0) when PieceHash is set.
	PieceLength int64
	// Workers is the number of goroutines hashing pieces; 0 means
	// max(1, GOMAXPROCS - len(Hashes)), so that the whole-file hashers, which
	// cannot be split, each keep a core.
	Workers int
	// Progress, if set, is called from the reading goroutine with the number of
	// bytes just read (a delta, not a total).
	Progress func(n int64)
}

// Result holds what Sum computed.
type Result struct {
	// Size is the number of bytes hashed.
	Size int64
	// Hashes are the whole-file digests, in the order of Options.Hashes.
	Hashes []Digest
	// PieceHash and PieceLength repeat the options; Pieces[i] is the digest of piece i.
	PieceHash   string
	PieceLength int64
	Pieces      [][]byte
}

// Digest is one whole-file digest.
type Digest struct {
	// Type is the canonical hash name.
	Type string
	// Sum is the raw digest.
	Sum []byte
}

// Hex returns the lowercase hex of a whole-file digest by name, or "" when absent.
func (r *Result) Hex(name string) string {
	for _, d := range r.Hashes {
		if d.Type == name {
			return hex.EncodeToString(d.Sum)
		}
	}
	return ""
}

// PiecesHex returns the piece digests as lowercase hex strings.
func (r *Result) PiecesHex() []string {
	out := make([]string, len(r.Pieces))
	for i, p := range r.Pieces {
		out[i] = hex.EncodeToString(p)
	}
	return out
}

// ErrShortRead is returned (wrapped) when the reader ends before size bytes: the file shrank.
var ErrShortRead = errors.New("file ended before its expected size (did it change while being hashed?)")

// chunkLimit is the largest chunk read at once; chunks never straddle a piece boundary.
const chunkLimit = BufferSize

// chunk is one read of the file, shared read-only by its consumers.
type chunk struct {
	data  []byte
	done  func()       // gives data back to its source
	piece int64        // piece index, -1 when no pieces are computed
	last  bool         // last chunk of its piece
	refs  atomic.Int32 // consumers still using data
}

// source yields the bytes of the file in order, at most a bounded amount at once.
type source interface {
	// next returns up to n (> 0) bytes at off, and the function that gives them back
	// once every consumer is done with them. It blocks while too much is out.
	next(ctx context.Context, off int64, n int) (data []byte, done func(), err error)
	// close waits until everything next returned has been given back, then frees it all.
	close()
}

// preadSource copies the file into a fixed set of pooled buffers with ReadAt.
type preadSource struct {
	r    io.ReaderAt
	size int64
	nbuf int
	free chan *[]byte
}

func newPreadSource(r io.ReaderAt, size int64, nbuf int) *preadSource {
	s := &preadSource{r: r, size: size, nbuf: nbuf, free: make(chan *[]byte, nbuf)}
	for range nbuf {
		s.free <- GetBuffer()
	}
	return s
}

func (s *preadSource) next(ctx context.Context, off int64, n int) ([]byte, func(), error) {
	var buf *[]byte
	select {
	case buf = <-s.free:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	data := (*buf)[:n]
	m, err := s.r.ReadAt(data, off)
	if m < len(data) {
		s.free <- buf
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("at offset %d of %d: %w", off+int64(m), s.size, ErrShortRead)
		}
		return nil, nil, err
	}
	return data, func() { s.free <- buf }, nil // never blocks: free has room for every buffer
}

func (s *preadSource) close() {
	for range s.nbuf {
		PutBuffer(<-s.free)
	}
}

// Sum reads r once, from offset 0 to size, and computes the whole-file hashes of
// opt.Hashes (each on its own goroutine, in order) and the piece hashes of
// opt.PieceHash (pieces spread over opt.Workers goroutines). Memory is bounded
// whatever size is (see the package documentation). Sum returns when every
// goroutine it started has ended.
func Sum(ctx context.Context, r io.ReaderAt, size int64, opt Options) (*Result, error) {
	if size < 0 {
		return nil, fmt.Errorf("digest: negative size %d", size)
	}
	for _, n := range opt.Hashes {
		if constructor(n) == nil {
			return nil, &UnknownHashError{Name: n}
		}
	}
	res := &Result{Size: size, PieceHash: opt.PieceHash, PieceLength: opt.PieceLength}
	pieced := opt.PieceHash != ""
	if pieced {
		if constructor(opt.PieceHash) == nil {
			return nil, &UnknownHashError{Name: opt.PieceHash}
		}
		if opt.PieceLength <= 0 {
			return nil, fmt.Errorf("digest: piece length %d must be positive", opt.PieceLength)
		}
		n := int64(0)
		if size > 0 {
			n = (size-1)/opt.PieceLength + 1
		}
		res.Pieces = make([][]byte, n)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = max(1, runtime.GOMAXPROCS(0)-len(opt.Hashes))
	}
	if pieced && int64(workers) > int64(len(res.Pieces)) {
		workers = max(1, len(res.Pieces))
	}
	if !pieced {
		workers = 0
	}
	consumers := len(opt.Hashes)
	if pieced {
		consumers++
	}

	nbuf := 2*workers + len(opt.Hashes) + 2
	nbuf = int(min(int64(nbuf), 1+size/BufferSize)) // small files need few buffers; any nbuf >= 1 works
	var src source
	mapped := false
	if consumers > 0 {
		if ms, ok := newMapSource(r, size); ok {
			src, mapped = ms, true
		}
	}
	if src == nil {
		src = newPreadSource(r, size, nbuf)
	}
	release := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			c.done()
		}
	}
	// A mapped file truncated while it is hashed faults (SIGBUS) in a consumer: that
	// consumer records it, and from then on only gives its chunks back.
	var faulted atomic.Bool
	consume := func(ch chan *chunk, fn func(c *chunk)) {
		if !mapped {
			for c := range ch {
				fn(c)
				release(c)
			}
			return
		}
		if consumeGuarded(ch, fn, release) {
			return // ch closed
		}
		faulted.Store(true)
		for c := range ch {
			release(c)
		}
	}

	var wg sync.WaitGroup
	// Whole-file hashers: one goroutine each, fed every chunk in order.
	wholeCh := make([]chan *chunk, len(opt.Hashes))
	wholeH := make([]hash.Hash, len(opt.Hashes))
	for i, name := range opt.Hashes {
		h, _ := Get(name)
		wholeH[i] = h
		ch := make(chan *chunk, nbuf)
		wholeCh[i] = ch
		wg.Go(func() { consume(ch, func(c *chunk) { h.Write(c.data) }) })
	}
	// Piece hashers: piece p goes to worker p % workers, which sees its chunks in order.
	pieceCh := make([]chan *chunk, workers)
	for w := range workers {
		ch := make(chan *chunk, nbuf)
		pieceCh[w] = ch
		wg.Go(func() {
			h, _ := Get(opt.PieceHash)
			defer Put(opt.PieceHash, h)
			consume(ch, func(c *chunk) {
				h.Write(c.data)
				if c.last {
					res.Pieces[c.piece] = h.Sum(nil)
					h.Reset()
				}
			})
		})
	}

	// The reader: this goroutine. A chunk's bytes go back to the source when its
	// last consumer releases it.
	var readErr error
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		if faulted.Load() {
			break
		}
		n := min(size-off, chunkLimit)
		piece, end := int64(-1), size
		if pieced {
			piece = off / opt.PieceLength
			end = (piece + 1) * opt.PieceLength
			if end > size || end < 0 {
				end = size
			}
			n = min(n, end-off)
		}
		data, done, err := src.next(ctx, off, int(n))
		if err != nil {
			readErr = err
			break
		}
		if opt.Progress != nil {
			opt.Progress(int64(len(data)))
		}
		c := &chunk{data: data, done: done, piece: piece, last: off+int64(len(data)) == end}
		c.refs.Store(int32(consumers))
		if consumers == 0 {
			done()
		}
		for _, ch := range wholeCh {
			ch <- c
		}
		if pieced {
			pieceCh[int(piece%int64(workers))] <- c
		}
		off += int64(len(data))
	}
	for _, ch := range wholeCh {
		close(ch)
	}
	for _, ch := range pieceCh {
		close(ch)
	}
	wg.Wait()
	src.close()
	if readErr == nil && faulted.Load() {
		readErr = fmt.Errorf("reading the mapped file: %w", ErrShortRead)
	}
	if readErr != nil {
		for i, name := range opt.Hashes {
			Put(name, wholeH[i])
		}
		return nil, readErr
	}
	res.Hashes = make([]Digest, len(opt.Hashes))
	for i, name := range opt.Hashes {
		res.Hashes[i] = Digest{Type: name, Sum: wholeH[i].Sum(nil)}
		Put(name, wholeH[i])
	}
	return res, nil
}
