//go:build unix

package publish

import (
	"os"
	"syscall"
)

// openFlags are added to O_RDONLY when opening a file to hash: O_NONBLOCK so that
// a fifo swapped in after the check cannot block the open.
const openFlags = syscall.O_NONBLOCK

// identify returns the identity of a file as the cache keys it.
func identify(fi os.FileInfo) fileID {
	id := fileID{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev = uint64(st.Dev)
		id.Ino = uint64(st.Ino)
		id.CtimeNs = ctimeNs(st)
	}
	return id
}
