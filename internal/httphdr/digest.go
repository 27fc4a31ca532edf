package httphdr

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/mlinkdev/mlink/metalink"
)

// Digest is one digest of a representation.
type Digest struct {
	// Algorithm is the canonical metalink hash name ("sha-256").
	Algorithm string
	// Value is the raw digest (32 bytes for sha-256).
	Value []byte
}

// Hex returns the digest as lowercase hex, as metalink documents write it.
func (d Digest) Hex() string { return hex.EncodeToString(d.Value) }

// Want is one algorithm preference of a Want-Digest or Want-Repr-Digest field.
type Want struct {
	// Algorithm is the canonical metalink hash name when Supported, else the name
	// lower-cased as written.
	Algorithm string
	// Supported reports whether mlink knows the algorithm.
	Supported bool
	// Weight is the preference in [0, 1]: the q-value of Want-Digest, or the RFC 9530
	// integer 0..10 divided by 10. 0 means "not acceptable".
	Weight float64
}

// algorithmName maps a Digest/Repr-Digest algorithm token to the canonical metalink name.
// RFC 3230's "SHA" and RFC 9530's "sha" mean SHA-1.
func algorithmName(tok string) (string, bool) {
	if strings.EqualFold(tok, "sha") {
		return "sha-1", true
	}
	return metalink.NormalizeHashName(tok)
}

// decodeDigest checks that raw has the length of the algorithm's digest.
func checkLen(alg string, raw []byte) error {
	if want := metalink.HashHexLen(alg) / 2; len(raw) != want {
		return fmt.Errorf("%s digest is %d bytes, want %d", alg, len(raw), want)
	}
	return nil
}

// ParseDigest parses an RFC 3230 Digest header value ("SHA-256=<base64>, SHA-512=<base64>").
// Algorithms are case-insensitive and mapped to canonical metalink names ("SHA" → "sha-1");
// algorithms mlink does not support (UNIXsum, ...) are skipped. A supported algorithm with a
// value that is not standard padded base64 of the right length is ErrMalformed, as is
// the same algorithm listed twice with different values.
func ParseDigest(s string) ([]Digest, error) {
	var out []Digest
	for elem := range strings.SplitSeq(s, ",") {
		elem = trimOWS(elem)
		if elem == "" {
			continue
		}
		tok, val, ok := strings.Cut(elem, "=")
		if !ok || !isToken(tok) {
			return nil, malformed("digest", "bad instance-digest %q", clip(elem))
		}
		alg, ok := algorithmName(tok)
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(val)
		if err != nil {
			return nil, malformed("digest", "%s value is not base64", tok)
		}
		if err := checkLen(alg, raw); err != nil {
			return nil, malformed("digest", "%v", err)
		}
		if out, err = addDigest(out, Digest{Algorithm: alg, Value: raw}); err != nil {
			return nil, malformed("digest", "%v", err)
		}
	}
	return out, nil
}

func addDigest(ds []Digest, d Digest) ([]Digest, error) {
	for _, o := range ds {
		if o.Algorithm == d.Algorithm {
			if string(o.Value) != string(d.Value) {
				return nil, fmt.Errorf("two different %s digests", d.Algorithm)
			}
			return ds, nil
		}
	}
	return append(ds, d), nil
}

// rfc3230Name is the IANA HTTP Digest Algorithm token of a canonical name.
func rfc3230Name(alg string) string {
	switch alg {
	case "sha-1":
		return "SHA"
	case "md5":
		return "MD5"
	}
	return strings.ToUpper(alg)
}

// rfc9530Name is the RFC 9530 registry key of a canonical name.
func rfc9530Name(alg string) string {
	if alg == "sha-1" {
		return "sha"
	}
	return alg
}

// FormatDigest formats an RFC 3230 Digest value: "SHA-256=<base64>, SHA-512=<base64>".
// Digests whose algorithm is not a supported canonical name are skipped.
func FormatDigest(ds ...Digest) string {
	var parts []string
	for _, d := range ds {
		if _, ok := metalink.NormalizeHashName(d.Algorithm); !ok {
			continue
		}
		alg, _ := metalink.NormalizeHashName(d.Algorithm)
		parts = append(parts, rfc3230Name(alg)+"="+base64.StdEncoding.EncodeToString(d.Value))
	}
	return strings.Join(parts, ", ")
}

// FormatReprDigest formats an RFC 9530 Repr-Digest value: "sha-256=:<base64>:, ...".
// Digests whose algorithm is not a supported canonical name are skipped.
func FormatReprDigest(ds ...Digest) string {
	var parts []string
	for _, d := range ds {
		alg, ok := metalink.NormalizeHashName(d.Algorithm)
		if !ok {
			continue
		}
		parts = append(parts, rfc9530Name(alg)+"=:"+base64.StdEncoding.EncodeToString(d.Value)+":")
	}
	return strings.Join(parts, ", ")
}

// ParseReprDigest parses an RFC 9530 Repr-Digest (or Content-Digest) value, a structured
// field dictionary of byte sequences ("sha-256=:<base64>:"). The whole field must be a
// valid RFC 8941 dictionary, or ErrMalformed; keys mlink does not support are skipped;
// a supported key whose value is not a byte sequence of the right length is ErrMalformed.
// As RFC 8941 says, a key listed twice keeps its last value.
func ParseReprDigest(s string) ([]Digest, error) {
	dict, err := parseSFDictionary(s)
	if err != nil {
		return nil, malformed("repr-digest", "%v", err)
	}
	var out []Digest
	for _, m := range dict {
		alg, ok := algorithmName(m.key)
		if !ok {
			continue
		}
		if m.item.kind != sfBytes {
			return nil, malformed("repr-digest", "%s is not a byte sequence", m.key)
		}
		if err := checkLen(alg, m.item.bytes); err != nil {
			return nil, malformed("repr-digest", "%v", err)
		}
		out = append(out, Digest{Algorithm: alg, Value: m.item.bytes})
	}
	return out, nil
}

// ParseWantReprDigest parses an RFC 9530 Want-Repr-Digest (or Want-Content-Digest) value,
// a dictionary of integers 0..10 ("sha-512=3, sha-256=10"), sorted by weight, highest first
// (ties keep field order). Values outside 0..10 or of another type are ErrMalformed.
func ParseWantReprDigest(s string) ([]Want, error) {
	dict, err := parseSFDictionary(s)
	if err != nil {
		return nil, malformed("want-repr-digest", "%v", err)
	}
	var out []Want
	for _, m := range dict {
		if m.item.kind != sfInteger || m.item.integer < 0 || m.item.integer > 10 {
			return nil, malformed("want-repr-digest", "%s is not an integer 0..10", m.key)
		}
		alg, ok := algorithmName(m.key)
		out = append(out, Want{Algorithm: alg, Supported: ok, Weight: float64(m.item.integer) / 10})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Weight > out[j].Weight })
	return out, nil
}

// ParseWantDigest parses an RFC 3230 Want-Digest value ("SHA-512;q=0.3, sha-256;q=1, md5;q=0"),
// sorted by q-value, highest first (ties keep field order). A missing q is 1. A q-value
// off the RFC 9110 qvalue grammar is ErrMalformed.
func ParseWantDigest(s string) ([]Want, error) {
	var out []Want
	for elem := range strings.SplitSeq(s, ",") {
		elem = trimOWS(elem)
		if elem == "" {
			continue
		}
		tok, params, _ := strings.Cut(elem, ";")
		tok = trimOWS(tok)
		if !isToken(tok) {
			return nil, malformed("want-digest", "bad algorithm %q", clip(tok))
		}
		w := 1.0
		if params = trimOWS(params); params != "" {
			k, v, ok := strings.Cut(params, "=")
			if !ok || !strings.EqualFold(trimOWS(k), "q") {
				return nil, malformed("want-digest", "bad parameter %q", clip(params))
			}
			q, ok := parseQValue(trimOWS(v))
			if !ok {
				return nil, malformed("want-digest", "bad q-value %q", clip(v))
			}
			w = q
		}
		alg, ok := algorithmName(tok)
		out = append(out, Want{Algorithm: alg, Supported: ok, Weight: w})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Weight > out[j].Weight })
	return out, nil
}

// parseQValue parses an RFC 9110 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ].
func parseQValue(s string) (float64, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	ip := float64(s[0] - '0')
	if len(s) == 1 {
		return ip, true
	}
	if s[1] != '.' {
		return 0, false
	}
	milli, scale := 0, 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || (ip == 1 && c != '0') {
			return 0, false
		}
		milli += int(c-'0') * scale
		scale /= 10
	}
	return ip + float64(milli)/1000, true
}

// Wanted reports whether alg (a canonical name) has a positive weight in wants.
func Wanted(wants []Want, alg string) bool {
	for _, w := range wants {
		if w.Supported && w.Algorithm == alg && w.Weight > 0 {
			return true
		}
	}
	return false
}

// DigestMismatch compares the whole-representation digests a response carries
// (RFC 9530 Repr-Digest and RFC 3230 Digest, which describe the whole file also on
// a 206) with hashes of the same algorithm, and describes the first difference; ""
// when every comparable digest agrees or there is none. Fields that do not parse
// are ignored: they are advice, the hashes of the data are the proof.
func DigestMismatch(h http.Header, hashes []metalink.Hash) string {
	var ds []Digest
	for _, v := range h.Values("Repr-Digest") {
		if d, err := ParseReprDigest(v); err == nil {
			ds = append(ds, d...)
		}
	}
	for _, v := range h.Values("Digest") {
		if d, err := ParseDigest(v); err == nil {
			ds = append(ds, d...)
		}
	}
	for _, d := range ds {
		for _, mh := range hashes {
			if mh.Type == d.Algorithm && !strings.EqualFold(mh.Value, d.Hex()) {
				return fmt.Sprintf("the mirror's %s digest header (%s) differs from the expected %s", d.Algorithm, d.Hex(), mh.Value)
			}
		}
	}
	return ""
}
