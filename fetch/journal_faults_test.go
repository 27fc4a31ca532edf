package fetch

import (
	"io"
	"os"
	"sync"
	"syscall"
)

// Disk-fault helpers for the fetch tests (SECURITY.md catalogue cases 36 and 37).
//
// journalFaultWriterAt wraps the part file's io.WriterAt and runs out of space after
// limit bytes: the write that crosses the limit is cut short and returns ENOSPC (as a
// *os.PathError, like a real file), later writes write nothing. Raise the limit with
// free to simulate space being freed. journalFaultSyncer makes Sync fail with EIO from
// the failAt-th call on. Both are safe for concurrent use.

// journalFaultWriterAt is an io.WriterAt with a byte budget.
type journalFaultWriterAt struct {
	w    io.WriterAt
	name string // for the error

	mu      sync.Mutex
	limit   int64
	written int64
}

func newJournalFaultWriterAt(w io.WriterAt, name string, limit int64) *journalFaultWriterAt {
	return &journalFaultWriterAt{w: w, name: name, limit: limit}
}

func (f *journalFaultWriterAt) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	room := max(0, f.limit-f.written)
	n := int64(len(p))
	if n > room {
		n = room
	}
	f.written += n
	f.mu.Unlock()
	m, err := f.w.WriteAt(p[:n], off)
	if err != nil {
		return m, err
	}
	if m < len(p) {
		return m, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return m, nil
}

// free adds n bytes to the budget.
func (f *journalFaultWriterAt) free(n int64) {
	f.mu.Lock()
	f.limit += n
	f.mu.Unlock()
}

// journalFaultSyncer wraps a Sync (the part file's) and fails it from call failAt
// (1-based) on; failAt <= 0 never fails.
type journalFaultSyncer struct {
	s      journalSyncer
	failAt int

	mu    sync.Mutex
	calls int
}

func (f *journalFaultSyncer) Sync() error {
	f.mu.Lock()
	f.calls++
	fail := f.failAt > 0 && f.calls >= f.failAt
	f.mu.Unlock()
	if fail {
		return &os.PathError{Op: "fsync", Path: "part", Err: syscall.EIO}
	}
	return f.s.Sync()
}

// journalDevFullFS is a journalFS whose new files are /dev/full: every write to them
// fails with a real ENOSPC from the kernel. Other operations go to the wrapped FS.
type journalDevFullFS struct{ journalFS }

func (d journalDevFullFS) OpenFile(name string, flag int, perm os.FileMode) (journalFile, error) {
	if flag&os.O_CREATE != 0 {
		f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return d.journalFS.OpenFile(name, flag, perm)
}
