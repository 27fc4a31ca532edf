package httphdr

import (
	"errors"
	"fmt"
)

// Sentinel errors; every error returned by a parser wraps exactly one of them.
var (
	// ErrMalformed: the header value does not follow its grammar, or a number in it
	// does not fit an int64.
	ErrMalformed = errors.New("malformed header")
	// ErrUnsatisfiable: a syntactically valid Range selects no byte of the representation
	// (answer 416 with Content-Range: bytes */SIZE).
	ErrUnsatisfiable = errors.New("range not satisfiable")
	// ErrTooManyRanges: a Range header lists more ranges than the caller allows.
	ErrTooManyRanges = errors.New("too many ranges")
)

// malformed builds an error wrapping ErrMalformed that names the field and the problem.
func malformed(field, format string, a ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, a...), ErrMalformed)
}

// parseDigits parses a non-empty run of ASCII decimal digits as a non-negative int64.
// It rejects signs, spaces, and values above math.MaxInt64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isOWS reports whether c is optional whitespace (SP or HTAB).
func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
