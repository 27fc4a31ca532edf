//go:build !unix

package verify

import "io"

// mapFile never maps where mmap is unavailable: File reads with ReadAt.
func mapFile(r io.ReaderAt, span int64) (data []byte, unmap func(), ok bool) { return nil, nil, false }

func faultGuard(fn func() error) func() error { return fn }
