package fetch

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a just-written piece to disk
// without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so that the fsync before
// the final rename (and the journal's) finds little left to flush. Errors are
// ignored: the fsync that follows reports real ones.
func startWriteback(w any, off, n int64) {
	if f, ok := w.(*os.File); ok {
		_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
}

// preallocate reserves size bytes for f (fallocate), so a full disk shows at once.
func preallocate(f *os.File, size int64) error {
	return unix.Fallocate(int(f.Fd()), 0, 0, size)
}
