package verify

import (
	"hash"

	"github.com/mlinkdev/mlink/internal/digest"
)

// newHash returns a hasher for a canonical hash name through the module's one hashing seam.
func newHash(name string) (hash.Hash, error) { return digest.New(name) }
