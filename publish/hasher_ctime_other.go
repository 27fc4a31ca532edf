//go:build unix && !linux

package publish

import "syscall"

// ctimeNs is not read on these systems; size, mtime, device and inode still key the cache.
func ctimeNs(st *syscall.Stat_t) int64 { return 0 }
