//go:build !unix

package fetch

import (
	"errors"
	"os"
)

// journalErrLocked reports that another process holds the download lock of a file.
var journalErrLocked = errors.New("another mlink is already downloading this file")

// journalLockHandle is a no-op where flock is unavailable.
type journalLockHandle struct{}

// journalLock does not lock on systems without flock; concurrent runs are not detected there.
func journalLock(root *os.Root, name string) (*journalLockHandle, error) {
	return &journalLockHandle{}, nil
}

func (l *journalLockHandle) release() error { return nil }
