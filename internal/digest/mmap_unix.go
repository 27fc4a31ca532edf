//go:build unix

package digest

import (
	"context"
	"io"
	"os"
	"runtime/debug"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Memory-mapped reading: Sum hashes the page cache in place instead of copying it
// into buffers, which frees the reading goroutine's share of a core for hashing. The
// file is mapped in windows of mapWindow bytes, at most mapWindows at once, each
// unmapped as soon as its last chunk is hashed, so the mapped pages counted in the
// process's RSS stay bounded whatever the file size.
const (
	mapWindow  = 8 << 20
	mapWindows = 3
	// mapMin is the smallest file worth mapping; below it pread is as cheap.
	mapMin = 4 << 20
)

// mapSource hands out chunks that are slices of read-only file mappings.
type mapSource struct {
	f     *os.File
	size  int64
	slots chan struct{} // one token per mapped window
	cur   *mapWin
}

// mapWin is one mapping of [off, off+len(data)) of the file.
type mapWin struct {
	data  []byte
	off   int64
	refs  atomic.Int64 // chunks out, plus one while the window is current
	slots chan struct{}
}

// newMapSource maps r when it is a regular *os.File of at least size bytes (and size
// is worth it); ok is false otherwise and the caller reads with ReadAt.
func newMapSource(r io.ReaderAt, size int64) (*mapSource, bool) {
	f, ok := r.(*os.File)
	if !ok || size < mapMin {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < size {
		return nil, false
	}
	return &mapSource{f: f, size: size, slots: make(chan struct{}, mapWindows)}, true
}

func (s *mapSource) next(ctx context.Context, off int64, n int) ([]byte, func(), error) {
	w := s.cur
	if w == nil || off >= w.off+int64(len(w.data)) {
		if w != nil {
			s.cur = nil
			w.put()
		}
		var err error
		if w, err = s.mapAt(ctx, off); err != nil {
			return nil, nil, err
		}
		s.cur = w
	}
	rel := off - w.off
	n = min(n, len(w.data)-int(rel))
	w.refs.Add(1)
	return w.data[rel : rel+int64(n)], w.put, nil
}

// mapAt maps the window holding off (windows start at multiples of mapWindow, so
// their offsets are page-aligned), waiting for a free slot.
func (s *mapSource) mapAt(ctx context.Context, off int64) (*mapWin, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	start := off - off%mapWindow
	end := min(start+mapWindow, s.size)
	sc, err := s.f.SyscallConn()
	if err != nil {
		<-s.slots
		return nil, err
	}
	var data []byte
	var merr error
	if err := sc.Control(func(fd uintptr) {
		data, merr = unix.Mmap(int(fd), start, int(end-start), unix.PROT_READ, unix.MAP_SHARED)
	}); err == nil {
		err = merr
	}
	if err != nil {
		<-s.slots
		return nil, &os.PathError{Op: "mmap", Path: s.f.Name(), Err: err}
	}
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL|unix.MADV_WILLNEED)
	w := &mapWin{data: data, off: start, slots: s.slots}
	w.refs.Store(1)
	return w, nil
}

// put gives back one reference; the last one unmaps the window and frees its slot.
func (w *mapWin) put() {
	if w.refs.Add(-1) == 0 {
		_ = unix.Munmap(w.data)
		<-w.slots
	}
}

func (s *mapSource) close() {
	if w := s.cur; w != nil {
		s.cur = nil
		w.put()
	}
	// Every chunk has been released by now (the consumers have ended): wait for the
	// slots to drain so no mapping outlives Sum.
	for range mapWindows {
		s.slots <- struct{}{}
	}
}

// consumeGuarded runs fn on each chunk of ch and releases it, turning a memory fault
// on a mapping (the file was truncated under us: SIGBUS) into a false return instead
// of a crash. It returns true when ch was closed without a fault.
func consumeGuarded(ch chan *chunk, fn func(*chunk), release func(*chunk)) (closed bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	var cur *chunk
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p)
			}
			if cur != nil {
				release(cur)
			}
			closed = false
		}
	}()
	for c := range ch {
		cur = c
		fn(c)
		cur = nil
		release(c)
	}
	return true
}
