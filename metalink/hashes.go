package metalink

import "strings"

// hashInfo describes one supported hash algorithm.
type hashInfo struct {
	name     string // canonical IANA name
	hexLen   int    // digest length in hex characters
	strength int    // higher is stronger
	weak     bool
}

// supported lists the hash algorithms mlink verifies, strongest first.
var supported = []hashInfo{
	{"sha-512", 128, 6, false},
	{"sha-384", 96, 5, false},
	{"sha-256", 64, 4, false},
	{"sha-224", 56, 3, false},
	{"sha-1", 40, 2, true},
	{"md5", 32, 1, true},
}

// aliases maps spellings seen in the wild (v3 names, upper case, no dash) to IANA names.
var aliases = map[string]string{
	"sha512": "sha-512", "sha-512": "sha-512",
	"sha384": "sha-384", "sha-384": "sha-384",
	"sha256": "sha-256", "sha-256": "sha-256",
	"sha224": "sha-224", "sha-224": "sha-224",
	"sha1": "sha-1", "sha-1": "sha-1",
	"md5": "md5", "md-5": "md5",
}

// NormalizeHashName returns the canonical IANA name ("sha-256") of a hash name as written
// in a v3 or v4 document ("SHA256", "sha1", "sha-256"), and whether mlink supports it.
// An unsupported name is returned lower-cased and trimmed.
func NormalizeHashName(s string) (string, bool) {
	l := strings.ToLower(strings.TrimSpace(s))
	if c, ok := aliases[l]; ok {
		return c, true
	}
	return l, false
}

func lookupHash(canonical string) (hashInfo, bool) {
	for _, h := range supported {
		if h.name == canonical {
			return h, true
		}
	}
	return hashInfo{}, false
}

// HashHexLen is the length in hex characters of a digest of the canonical hash name,
// or 0 when the name is not supported.
func HashHexLen(canonical string) int {
	h, _ := lookupHash(canonical)
	return h.hexLen
}

// HashStrength orders the supported hashes: sha-512 > sha-384 > sha-256 > sha-224 > sha-1 > md5.
// Unsupported names have strength 0.
func HashStrength(canonical string) int {
	h, _ := lookupHash(canonical)
	return h.strength
}

// IsWeakHash reports whether the canonical hash name is md5 or sha-1 (collision-broken).
func IsWeakHash(canonical string) bool {
	h, ok := lookupHash(canonical)
	return ok && h.weak
}

// SupportedHashes lists the canonical names of the supported hashes, strongest first.
func SupportedHashes() []string {
	out := make([]string, len(supported))
	for i, h := range supported {
		out[i] = h.name
	}
	return out
}

// StrongestHash returns the strongest supported whole-file hash of f.
func (f *File) StrongestHash() (Hash, bool) {
	var best Hash
	bestS := 0
	for _, h := range f.Hashes {
		if s := HashStrength(h.Type); s > bestS {
			best, bestS = h, s
		}
	}
	return best, bestS > 0
}

// StrongestPieces returns the piece-hash set of f with the strongest supported type, or nil.
func (f *File) StrongestPieces() *Pieces {
	var best *Pieces
	bestS := 0
	for i := range f.Pieces {
		if s := HashStrength(f.Pieces[i].Type); s > bestS {
			best, bestS = &f.Pieces[i], s
		}
	}
	return best
}
