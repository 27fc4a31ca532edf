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
	buf   *[]byte
	data  []byte
	piece int64        // piece index, -1 when no pieces are computed
	last  bool         // last chunk of its piece
	refs  atomic.Int32 // consumers still using buf
}

// Sum reads r once, from offset 0 to size, and computes the whole-file hashes of
// opt.Hashes (each on its own goroutine, in order) and the piece hashes of
// opt.PieceHash (pieces spread over opt.Workers goroutines). At most a fixed
// number of BufferSize chunks is in flight (2×workers+len(Hashes)+2), so memory is
// bounded whatever size is. Sum returns when every goroutine it started has ended.
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

	nbuf := 2*workers + len(opt.Hashes) + 2
	nbuf = int(min(int64(nbuf), 1+size/BufferSize)) // small files need few buffers; any nbuf >= 1 works
	free := make(chan *[]byte, nbuf)
	for range nbuf {
		free <- GetBuffer()
	}
	defer func() {
		close(free)
		for b := range free {
			PutBuffer(b)
		}
	}()
	release := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			free <- c.buf // never blocks: free has room for every buffer
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
		wg.Go(func() {
			for c := range ch {
				h.Write(c.data)
				release(c)
			}
		})
	}
	// Piece hashers: piece p goes to worker p % workers, which sees its chunks in order.
	pieceCh := make([]chan *chunk, workers)
	for w := range workers {
		ch := make(chan *chunk, nbuf)
		pieceCh[w] = ch
		wg.Go(func() {
			h, _ := Get(opt.PieceHash)
			defer Put(opt.PieceHash, h)
			for c := range ch {
				h.Write(c.data)
				if c.last {
					res.Pieces[c.piece] = h.Sum(nil)
					h.Reset()
				}
				release(c)
			}
		})
	}
	consumers := len(opt.Hashes)
	if pieced {
		consumers++
	}

	// The reader: this goroutine. A buffer comes back to free when the last
	// consumer of its chunk releases it.
	var readErr error
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		n := min(size-off, chunkLimit)
		piece, last := int64(-1), false
		if pieced {
			piece = off / opt.PieceLength
			end := (piece + 1) * opt.PieceLength
			if end > size || end < 0 {
				end = size
			}
			n = min(n, end-off)
			last = off+n == end
		}
		var buf *[]byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			readErr = ctx.Err()
		}
		if readErr != nil {
			break
		}
		data := (*buf)[:n]
		m, err := r.ReadAt(data, off)
		if m < len(data) {
			free <- buf
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("at offset %d of %d: %w", off+int64(m), size, ErrShortRead)
			}
			readErr = err
			break
		}
		if opt.Progress != nil {
			opt.Progress(int64(n))
		}
		c := &chunk{buf: buf, data: data, piece: piece, last: last}
		c.refs.Store(int32(consumers))
		if consumers == 0 {
			free <- buf
		}
		for _, ch := range wholeCh {
			ch <- c
		}
		if pieced {
			pieceCh[int(piece%int64(workers))] <- c
		}
		off += n
	}
	for _, ch := range wholeCh {
		close(ch)
	}
	for _, ch := range pieceCh {
		close(ch)
	}
	wg.Wait()
	// Wait for every buffer to come home before the deferred drain.
	got := make([]*[]byte, 0, nbuf)
	for range nbuf {
		got = append(got, <-free)
	}
	for _, b := range got {
		free <- b
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
