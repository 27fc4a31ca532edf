//go:build unix

package fetch

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// journalErrLocked reports that another process holds the download lock of a file.
var journalErrLocked = errors.New("another mlink is already downloading this file")

const journalLockSuffix = ".part.lock"

// journalLockHandle is a held download lock; release it with release.
type journalLockHandle struct {
	root *os.Root
	name string
	f    *os.File
}

// journalLock takes an exclusive, non-blocking flock on NAME.part.lock inside root, so that
// a second `mlink get` of the same output fails at once instead of interleaving writes.
// The lock dies with the process (kill -9 included), so a stale lock file never blocks a
// rerun. The error wraps journalErrLocked when another process holds the lock.
func journalLock(root *os.Root, name string) (*journalLockHandle, error) {
	p := name + journalLockSuffix
	for range 10 {
		f, err := root.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("lock %s: %w", p, journalErrLocked)
			}
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		// The holder removes the file before unlocking; if that happened between our
		// open and our flock, we locked an unlinked file: open the new one and retry.
		held, err1 := f.Stat()
		now, err2 := root.Stat(p)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &journalLockHandle{root: root, name: p, f: f}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: lock file keeps being replaced", p)
}

// release removes the lock file and then drops the lock.
func (l *journalLockHandle) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.root.Remove(l.name)
	if cerr := l.f.Close(); err == nil { // closing the descriptor drops the flock
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("release lock %s: %w", l.name, err)
	}
	return nil
}
