//go:build !unix

package digest

import "io"

// mapSource is never used where mmap is unavailable: Sum reads with ReadAt.
type mapSource struct{ preadSource }

func newMapSource(io.ReaderAt, int64) (*mapSource, bool) { return nil, false }

// consumeGuarded is not reached without mappings.
func consumeGuarded(ch chan *chunk, fn func(*chunk), release func(*chunk)) bool {
	for c := range ch {
		fn(c)
		release(c)
	}
	return true
}
