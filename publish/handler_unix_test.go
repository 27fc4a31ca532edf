//go:build unix

package publish

import (
	"syscall"
	"testing"
)

// makeFIFO creates a named pipe at p; it reports false when the system refuses.
func makeFIFO(t *testing.T, p string) bool {
	t.Helper()
	return syscall.Mkfifo(p, 0o644) == nil
}
