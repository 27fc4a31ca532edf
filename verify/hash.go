package verify

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// newHash returns a hasher for a canonical hash name. It is the package's one hashing
// seam, to be replaced by internal/digest.New.
func newHash(name string) (hash.Hash, error) {
	switch name {
	case "sha-512":
		return sha512.New(), nil
	case "sha-384":
		return sha512.New384(), nil
	case "sha-256":
		return sha256.New(), nil
	case "sha-224":
		return sha256.New224(), nil
	case "sha-1":
		return sha1.New(), nil
	case "md5":
		return md5.New(), nil
	}
	return nil, fmt.Errorf("unsupported hash %q", name)
}
