//go:build amd64 && !purego

package digest

import "github.com/klauspost/cpuid/v2"

// hasSHANI: the CPU has the SHA extensions and the SSSE3/SSE4.1 shuffles the block
// functions use.
var hasSHANI = cpuid.CPU.Supports(cpuid.SHA, cpuid.SSSE3, cpuid.SSE4)

// block1 hashes n 64-byte blocks at p into the state a.
//
//go:noescape
func block1(a *[8]uint32, p *byte, n int)

// block2 hashes n blocks at pa into a and n blocks at pb into b, interleaved.
//
//go:noescape
func block2(a, b *[8]uint32, pa, pb *byte, n int)
