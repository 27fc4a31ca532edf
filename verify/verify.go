package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mlinkdev/mlink/metalink"
	"golang.org/x/sync/errgroup"
)

// ErrNoHash is returned when a file entry has neither a supported whole-file hash
// nor a supported piece-hash set, so its content cannot be judged.
var ErrNoHash = errors.New("no supported hash to verify against")

// ErrFileChanged is returned when the file shrank while it was being read through a
// memory mapping (the kernel reports the vanished pages as a fault).
var ErrFileChanged = errors.New("file changed while being verified")

// ErrBadPieces is returned when the piece-hash set does not fit the file size
// (hash count is not ceil(size/length)); the metalink decoder normally refuses such entries.
var ErrBadPieces = errors.New("piece hashes do not match the file geometry")

// Options tunes File and Pieces. The zero value is ready to use.
type Options struct {
	// Progress, when set, is called with the number of bytes just read, from a single
	// goroutine, as the scan advances (the sum of all calls is the bytes examined).
	Progress func(n int64)
	// Workers is the number of goroutines hashing pieces. 0 means runtime.GOMAXPROCS(0),
	// less one per whole-file hash in File (each of those has a goroutine of its own).
	Workers int
}

// Range is a half-open byte range [Off, End) of the file.
type Range struct {
	Off int64 `json:"off"`
	End int64 `json:"end"`
}

// Len is the number of bytes in the range.
func (r Range) Len() int64 { return r.End - r.Off }

// HashCheck is the outcome of one whole-file hash.
type HashCheck struct {
	// Type is the canonical hash name ("sha-256").
	Type string `json:"type"`
	// Want is the value from the metalink; Got the value computed, empty when the file
	// was too short to compute it.
	Want string `json:"want"`
	Got  string `json:"got,omitempty"`
	// Match reports Got == Want.
	Match bool `json:"match"`
	// Weak reports an md5 or sha-1 hash (collision-broken: a match proves little).
	Weak bool `json:"weak,omitempty"`
}

// Result is the verdict on one file.
type Result struct {
	// Name is the metalink file name.
	Name string `json:"name"`
	// Size is the length of the local file; WantSize the length the metalink states
	// (equal to Size when the metalink does not say).
	Size     int64 `json:"size"`
	WantSize int64 `json:"want_size"`
	// Good reports that the size is right, every checked hash matched and every piece verified.
	Good bool `json:"good"`
	// Hashes lists every supported whole-file hash and its outcome.
	Hashes []HashCheck `json:"hashes,omitempty"`
	// Unsupported lists hash types present in the metalink that mlink cannot compute.
	Unsupported []string `json:"unsupported,omitempty"`
	// PieceType, PieceLength and PieceCount describe the piece set checked (the strongest
	// supported one); PieceType is empty when no piece set was checked.
	PieceType   string `json:"piece_type,omitempty"`
	PieceLength int64  `json:"piece_length,omitempty"`
	PieceCount  int    `json:"piece_count,omitempty"`
	// BadPieces are the indexes of the pieces that failed, are incomplete or missing.
	BadPieces []int `json:"bad_pieces,omitempty"`
	// BadRanges are the bad byte ranges within [0, WantSize), merged and sorted. With
	// piece hashes they are the bad pieces; without them a bad file is one range [0, WantSize).
	// They are empty when every piece verified but a whole-file hash did not (the metalink
	// then contradicts itself).
	BadRanges []Range `json:"bad_ranges,omitempty"`
	// Missing is the number of bytes the file lacks (WantSize - Size when shorter);
	// Extra the number of bytes beyond WantSize.
	Missing int64 `json:"missing,omitempty"`
	Extra   int64 `json:"extra,omitempty"`
}

// BadBytes is the total length of BadRanges.
func (r *Result) BadBytes() int64 {
	var n int64
	for _, br := range r.BadRanges {
		n += br.Len()
	}
	return n
}

const (
	chunkSize = 2 << 20 // bytes per read
	maxHexLen = 128     // longest supported digest (sha-512) in hex
)

// File judges the local file r of size bytes against the metalink entry f.
//
// It reads r once, front to back, in chunks: each supported whole-file hash runs on its
// own goroutine over the chunks in order, while the pieces of the strongest supported
// piece set are hashed by Options.Workers goroutines. Memory is bounded by a fixed
// number of chunk buffers. A file shorter than f.Size has its missing tail reported as
// bad pieces and ranges; a longer one is bad, with the first f.Size bytes still judged.
//
// The error is non-nil only when the file could not be read (the Result is then nil),
// when ctx ends, or when f cannot be verified at all (ErrNoHash, ErrBadPieces).
func File(ctx context.Context, r io.ReaderAt, size int64, f *metalink.File, opts Options) (*Result, error) {
	if size < 0 {
		return nil, fmt.Errorf("verify %q: negative size %d", f.Name, size)
	}
	want := f.Size
	if want < 0 {
		want = size
	}
	res := &Result{Name: f.Name, Size: size, WantSize: want}
	if size < want {
		res.Missing = want - size
	} else {
		res.Extra = size - want
	}

	var whole []*wholeHasher
	for _, h := range f.Hashes {
		hh, err := newHash(h.Type)
		if err != nil {
			res.Unsupported = append(res.Unsupported, h.Type)
			continue
		}
		whole = append(whole, &wholeHasher{check: HashCheck{Type: h.Type, Want: h.Value, Weak: metalink.IsWeakHash(h.Type)}, h: hh})
	}
	var pieces *metalink.Pieces
	if p := f.StrongestPieces(); p != nil {
		if _, err := newHash(p.Type); err == nil {
			pieces = p
		}
	}
	for i := range f.Pieces {
		if p := &f.Pieces[i]; p != pieces && metalink.HashStrength(p.Type) == 0 {
			res.Unsupported = append(res.Unsupported, "pieces:"+p.Type)
		}
	}
	if len(whole) == 0 && pieces == nil {
		return nil, fmt.Errorf("verify %q: %w", f.Name, ErrNoHash)
	}
	var good []bool
	if pieces != nil {
		n := pieces.Count(want)
		if pieces.Length <= 0 || int64(len(pieces.Hashes)) != n {
			return nil, fmt.Errorf("verify %q: %d piece hashes for %d pieces of %d bytes: %w",
				f.Name, len(pieces.Hashes), n, pieces.Length, ErrBadPieces)
		}
		res.PieceType, res.PieceLength, res.PieceCount = pieces.Type, pieces.Length, int(n)
		good = make([]bool, n)
	}

	span := min(size, want)
	s := &scan{r: r, span: span, pieces: pieces, fileSize: want, good: good, whole: whole, opts: opts}
	read, err := s.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify %q: %w", f.Name, err)
	}
	if read < span { // the file shrank under us: judge what was there
		res.Missing = want - read
	}

	res.Good = res.Missing == 0 && res.Extra == 0
	complete := read == want
	for _, w := range whole {
		if complete {
			w.check.Got = w.sum
			w.check.Match = bytes.EqualFold([]byte(w.sum), []byte(w.check.Want))
		}
		if !w.check.Match {
			res.Good = false
		}
		res.Hashes = append(res.Hashes, w.check)
	}
	if pieces != nil {
		for i, ok := range good {
			if ok {
				continue
			}
			res.Good = false
			res.BadPieces = append(res.BadPieces, i)
			off, l, _ := pieces.Piece(want, int64(i))
			if n := len(res.BadRanges); n > 0 && res.BadRanges[n-1].End == off {
				res.BadRanges[n-1].End = off + l // adjacent to the previous bad piece: merge
				continue
			}
			res.BadRanges = append(res.BadRanges, Range{off, off + l})
		}
	} else if !res.Good && want > 0 {
		res.BadRanges = []Range{{0, want}}
	}
	return res, nil
}

// Pieces hash-scans the pieces of p in r, a file whose full length is size bytes, and
// returns which pieces hold the right bytes. Only pieces with want[i] set are read
// (want == nil means all); the others are reported false. A piece that r cannot supply
// in full (the file is shorter) is false, not an error. It is meant for re-checking
// the pieces a resume journal claims, or scanning a partial file whose journal was lost.
//
// Pieces are read with ReadAt in parallel by Options.Workers goroutines, each with
// one buffer of at most one chunk (pieces longer than that are streamed).
func Pieces(ctx context.Context, r io.ReaderAt, size int64, p *metalink.Pieces, want []bool, opts Options) ([]bool, error) {
	n := p.Count(size)
	if p.Length <= 0 || int64(len(p.Hashes)) != n {
		return nil, fmt.Errorf("verify pieces: %d piece hashes for %d pieces: %w", len(p.Hashes), n, ErrBadPieces)
	}
	if want != nil && int64(len(want)) != n {
		return nil, fmt.Errorf("verify pieces: want has %d entries for %d pieces", len(want), n)
	}
	if _, err := newHash(p.Type); err != nil {
		return nil, fmt.Errorf("verify pieces: %w", err)
	}
	good := make([]bool, n)
	g, ctx := errgroup.WithContext(ctx)
	workers := opts.workers()
	next := make(chan int64)
	var progressMu sync.Mutex
	progress := func(k int64) {
		if opts.Progress != nil {
			progressMu.Lock()
			opts.Progress(k)
			progressMu.Unlock()
		}
	}
	g.Go(func() error {
		defer close(next)
		for i := int64(0); i < n; i++ {
			if want != nil && !want[i] {
				continue
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			h, _ := newHash(p.Type)
			buf := make([]byte, min(p.Length, chunkSize))
			var sum [maxHexLen]byte
			for i := range next {
				off, l, _ := p.Piece(size, i)
				h.Reset()
				ok := true
				for done := int64(0); done < l; {
					k := min(int64(len(buf)), l-done)
					m, err := r.ReadAt(buf[:k], off+done)
					h.Write(buf[:m])
					progress(int64(m))
					done += int64(m)
					if int64(m) < k {
						if err == io.EOF || err == nil {
							ok = false
							break
						}
						return fmt.Errorf("verify pieces: read piece %d at %d: %w", i, off+done, err)
					}
				}
				if ok {
					good[i] = bytes.EqualFold(hexSum(h, sum[:0]), []byte(p.Hashes[i]))
				}
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return good, nil
}

func (o Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return max(1, runtime.GOMAXPROCS(0))
}

// hexSum appends the lowercase hex digest of h to dst.
func hexSum(h hash.Hash, dst []byte) []byte {
	var raw [64]byte
	s := h.Sum(raw[:0])
	dst = dst[:len(s)*2]
	hex.Encode(dst, s)
	return dst
}

type wholeHasher struct {
	check HashCheck
	h     hash.Hash
	sum   string
	in    chan *chunk
}

// chunk is one buffer of file bytes shared by the whole-file hashers and the piece
// workers; the last consumer to release it returns the buffer to the free list.
type chunk struct {
	off  int64
	data []byte
	refs atomic.Int32
	free chan []byte
}

func (c *chunk) release() {
	if c.free == nil {
		return // a slice of a mapping: nothing to give back
	}
	if c.refs.Add(-1) == 0 {
		c.free <- c.data[:cap(c.data)]
	}
}

// segment is the part of a chunk that lies in one piece.
type segment struct {
	c           *chunk
	piece       int64
	data        []byte
	first, last bool
}

// scan is one pass of File over [0, span).
type scan struct {
	r        io.ReaderAt
	span     int64
	fileSize int64
	pieces   *metalink.Pieces
	good     []bool
	whole    []*wholeHasher
	opts     Options
	// mapped, when set, is r's bytes [0, span) memory-mapped: chunks are slices of it and
	// nothing is copied (see mapFile).
	mapped []byte
}

// run reads [0, span) once and feeds every hasher; it returns the number of bytes read
// (less than span when the file ended early).
func (s *scan) run(ctx context.Context) (int64, error) {
	if s.mapped == nil {
		if m, unmap, ok := mapFile(s.r, s.span); ok {
			s.mapped = m
			defer unmap() // after every goroutine below has ended
		}
	}
	guard := func(fn func() error) func() error {
		if s.mapped == nil {
			return fn
		}
		return faultGuard(fn)
	}
	g, ctx := errgroup.WithContext(ctx)
	workers := 0
	var segs []chan segment
	if s.pieces != nil {
		workers = s.opts.Workers
		if workers <= 0 {
			// The whole-file hashes are inherently sequential: give them a core each
			// and spread the pieces over the rest.
			workers = max(1, runtime.GOMAXPROCS(0)-len(s.whole))
		}
		segs = make([]chan segment, workers)
		for i := range segs {
			segs[i] = make(chan segment, 16)
		}
	}
	// Small files get small buffers, and no more of them than they have chunks.
	bufSize := int64(chunkSize)
	if s.span < bufSize {
		bufSize = max(s.span, 1)
	}
	nbuf := min(int64(2*(workers+len(s.whole))+2), (s.span+bufSize-1)/bufSize+1)
	var free chan []byte
	if s.mapped == nil {
		free = make(chan []byte, nbuf)
		for range nbuf {
			free <- make([]byte, bufSize)
		}
	}
	for _, w := range s.whole {
		w.in = make(chan *chunk, nbuf)
		g.Go(guard(func() error {
			for c := range w.in {
				w.h.Write(c.data)
				c.release()
			}
			var sum [maxHexLen]byte
			w.sum = string(hexSum(w.h, sum[:0]))
			return nil
		}))
	}
	for wi := range workers {
		g.Go(guard(func() error {
			h, _ := newHash(s.pieces.Type)
			var sum [maxHexLen]byte
			for sg := range segs[wi] {
				if sg.first {
					h.Reset()
				}
				h.Write(sg.data)
				if sg.last {
					s.good[sg.piece] = bytes.EqualFold(hexSum(h, sum[:0]), []byte(s.pieces.Hashes[sg.piece]))
				}
				sg.c.release()
			}
			return nil
		}))
	}
	var read int64
	g.Go(func() error {
		defer func() {
			for _, w := range s.whole {
				close(w.in)
			}
			for _, c := range segs {
				close(c)
			}
		}()
		for s.mapped != nil && read < s.span {
			k := min(int64(chunkSize), s.span-read)
			c := &chunk{off: read, data: s.mapped[read : read+k]}
			if err := s.dispatch(ctx, c, segs); err != nil {
				return err
			}
			read += k
			if s.opts.Progress != nil {
				s.opts.Progress(k)
			}
		}
		for read < s.span {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			k := min(int64(len(buf)), s.span-read)
			m, err := s.r.ReadAt(buf[:k], read)
			if err != nil && err != io.EOF {
				return fmt.Errorf("read at %d: %w", read+int64(m), err)
			}
			if m == 0 {
				free <- buf
				break // the file ended early
			}
			c := &chunk{off: read, data: buf[:m], free: free}
			if err := s.dispatch(ctx, c, segs); err != nil {
				return err
			}
			read += int64(m)
			if s.opts.Progress != nil {
				s.opts.Progress(int64(m))
			}
			if int64(m) < k {
				break // short read: the file ended early
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return read, nil
}

// dispatch hands c to every whole-file hasher and its piece segments to the workers:
// piece i always goes to worker i%workers, so a piece spanning chunks is hashed in order.
func (s *scan) dispatch(ctx context.Context, c *chunk, segs []chan segment) error {
	end := c.off + int64(len(c.data))
	type part struct {
		w  int
		sg segment
	}
	var parts []part
	if s.pieces != nil {
		L := s.pieces.Length
		for i := c.off / L; i*L < end; i++ {
			pOff, pLen, ok := s.pieces.Piece(s.fileSize, i)
			if !ok {
				break
			}
			a, b := max(pOff, c.off), min(pOff+pLen, end)
			parts = append(parts, part{int(i % int64(len(segs))), segment{
				c: c, piece: i, data: c.data[a-c.off : b-c.off], first: a == pOff, last: b == pOff+pLen,
			}})
		}
	}
	c.refs.Store(int32(len(s.whole) + len(parts)))
	if len(s.whole)+len(parts) == 0 {
		if c.free != nil {
			c.free <- c.data[:cap(c.data)]
		}
		return nil
	}
	for _, w := range s.whole {
		select {
		case w.in <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, p := range parts {
		select {
		case segs[p.w] <- p.sg:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
