//go:build !amd64 || purego

package digest

// hasSHANI is false: New and Get use crypto/sha256, and sha256NI is never made.
const hasSHANI = false

func block1(*[8]uint32, *byte, int) { panic("digest: no SHA-NI block function here") }
func block2(*[8]uint32, *[8]uint32, *byte, *byte, int) {
	panic("digest: no SHA-NI block function here")
}
