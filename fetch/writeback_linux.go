package fetch

import (
	"os"
	"syscall"

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

// freeSpace is the number of bytes this process may still write to the file system
// of dir (the blocks reserved for root count for root only).
func freeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	blocks := st.Bavail
	if os.Geteuid() == 0 {
		blocks = st.Bfree
	}
	return freeBytes(blocks, int64(st.Bsize)), nil
}

// allocatedBytes is the disk space fi's file occupies (a preallocated or partly
// written part file needs only the rest).
func allocatedBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return min(st.Blocks*512, fi.Size())
	}
	return 0
}
