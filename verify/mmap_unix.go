//go:build unix

package verify

import (
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// minMap is the smallest span worth mapping; below it pread is as cheap.
const minMap = 8 << 20

// mapFile maps [0, span) of r when r is a regular *os.File at least span bytes long, so
// the hashers read the page cache directly instead of a copy. ok is false when the file
// cannot be mapped; the caller then reads with ReadAt. unmap must be called only after
// every goroutine touching the mapping has ended.
func mapFile(r io.ReaderAt, span int64) (data []byte, unmap func(), ok bool) {
	f, isFile := r.(*os.File)
	if !isFile || span < minMap || int64(int(span)) != span {
		return nil, nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < span {
		return nil, nil, false
	}
	return mapSpan(f, span)
}

// mapSpan maps [0, span) of f read-only, without checking the file's length.
func mapSpan(f *os.File, span int64) (data []byte, unmap func(), ok bool) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	var m []byte
	var merr error
	if err := sc.Control(func(fd uintptr) {
		m, merr = unix.Mmap(int(fd), 0, int(span), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil || merr != nil {
		return nil, nil, false
	}
	_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
	return m, func() { unix.Munmap(m) }, true
}

// faultGuard runs fn so that a memory fault on the mapping (the file was truncated
// under us: SIGBUS) becomes ErrFileChanged instead of a crash.
func faultGuard(fn func() error) func() error {
	return func() (err error) {
		old := debug.SetPanicOnFault(true)
		defer debug.SetPanicOnFault(old)
		defer func() {
			if p := recover(); p != nil {
				if _, fault := p.(interface{ Addr() uintptr }); fault {
					err = ErrFileChanged
					return
				}
				panic(p)
			}
		}()
		return fn()
	}
}
