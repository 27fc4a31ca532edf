//go:build !unix

package publish

import "os"

const openFlags = 0

// identify returns the identity of a file as the cache keys it (size and mtime only here).
func identify(fi os.FileInfo) fileID {
	return fileID{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
}
