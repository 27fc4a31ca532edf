//go:build amd64 && !purego

package digest

// hasSHANI: the CPU has the SHA extensions and the SSSE3/SSE4.1 shuffles the block
// functions use.
var hasSHANI = func() bool {
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	_, b7, _, _ := cpuid(7, 0)
	ssse3, sse41, sha := c1&(1<<9) != 0, c1&(1<<19) != 0, b7&(1<<29) != 0
	return ssse3 && sse41 && sha
}()

// cpuid executes CPUID for leaf and sub-leaf.
//
//go:noescape
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// block1 hashes n 64-byte blocks at p into the state a.
//
//go:noescape
func block1(a *[8]uint32, p *byte, n int)

// block2 hashes n blocks at pa into a and n blocks at pb into b, interleaved.
//
//go:noescape
func block2(a, b *[8]uint32, pa, pb *byte, n int)
