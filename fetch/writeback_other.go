//go:build !linux

package fetch

import (
	"errors"
	"os"
)

// startWriteback is a no-op where sync_file_range does not exist.
func startWriteback(any, int64, int64) {}

// preallocate is unsupported here; the caller falls back to Truncate.
func preallocate(*os.File, int64) error { return errors.ErrUnsupported }

// freeSpace is unknown here: the preflight skips the check.
func freeSpace(string) (int64, error) { return 0, errors.ErrUnsupported }

// allocatedBytes is unknown here (0: the whole size is counted as needed).
func allocatedBytes(os.FileInfo) int64 { return 0 }
