package httphdr

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseContentRange parses a Content-Range value (RFC 9110 §14.4):
//
//	"bytes 0-99/1000"  → 0, 99, 1000
//	"bytes 0-99/*"     → 0, 99, -1 (total unknown)
//	"bytes */1000"     → -1, -1, 1000 (the unsatisfied-range form sent with 416)
//
// It returns ErrMalformed for another unit, first > last, last >= total, "bytes */*",
// numbers above 2^63-1, signs or stray spaces. The unit is compared case-insensitively.
func ParseContentRange(s string) (first, last, total int64, err error) {
	unit, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return 0, 0, 0, malformed("content-range", "not a bytes range %q", clip(s))
	}
	resp, complete, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, malformed("content-range", "no '/' in %q", clip(s))
	}
	total = -1
	if complete != "*" {
		if total, ok = parseDigits(complete); !ok {
			return 0, 0, 0, malformed("content-range", "bad complete-length in %q", clip(s))
		}
	}
	if resp == "*" {
		if total < 0 {
			return 0, 0, 0, malformed("content-range", "%q has neither range nor length", clip(s))
		}
		return -1, -1, total, nil
	}
	a, b, ok := strings.Cut(resp, "-")
	if !ok {
		return 0, 0, 0, malformed("content-range", "no '-' in %q", clip(s))
	}
	if first, ok = parseDigits(a); !ok {
		return 0, 0, 0, malformed("content-range", "bad first-pos in %q", clip(s))
	}
	if last, ok = parseDigits(b); !ok {
		return 0, 0, 0, malformed("content-range", "bad last-pos in %q", clip(s))
	}
	if last < first {
		return 0, 0, 0, malformed("content-range", "last-pos before first-pos in %q", clip(s))
	}
	if total >= 0 && last >= total {
		return 0, 0, 0, malformed("content-range", "range beyond complete-length in %q", clip(s))
	}
	return first, last, total, nil
}

// FormatContentRange formats "bytes first-last/total"; a negative total is written "*".
func FormatContentRange(first, last, total int64) string {
	t := "*"
	if total >= 0 {
		t = strconv.FormatInt(total, 10)
	}
	return "bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + t
}

// FormatUnsatisfiedContentRange formats "bytes */total", the Content-Range of a 416.
func FormatUnsatisfiedContentRange(total int64) string {
	return "bytes */" + strconv.FormatInt(total, 10)
}

// ContentRangeError says how a 206's Content-Range differs from what was asked.
type ContentRangeError struct {
	// Header is the Content-Range value received (clipped), empty when absent.
	Header string
	// WantFirst, WantLast, WantTotal are what was asked (WantTotal -1: not checked).
	WantFirst, WantLast, WantTotal int64
	// First, Last, Total are what the header said (-1 when unparsed or unknown).
	First, Last, Total int64
	// Err is ErrMalformed for an absent or unparsable header, ErrMismatch otherwise.
	Err error
}

func (e *ContentRangeError) Error() string {
	if e.Header == "" {
		return fmt.Sprintf("content-range: missing, want bytes %d-%d: %v", e.WantFirst, e.WantLast, e.Err)
	}
	return fmt.Sprintf("content-range: got %q, want %s: %v", e.Header,
		FormatContentRange(e.WantFirst, e.WantLast, e.WantTotal), e.Err)
}

func (e *ContentRangeError) Unwrap() error { return e.Err }

// ErrMismatch: a well-formed Content-Range does not describe the bytes that were asked for.
var ErrMismatch = errors.New("content-range does not match the request")

// CheckContentRange verifies the Content-Range value of a 206 answering a single-range
// request for length bytes at off of a representation of total bytes (total < 0: the
// total is not checked, but an unknown "*" total is still accepted only then). It
// returns nil only when the header says exactly "bytes off-(off+length-1)/total"
// (SECURITY.md rules 7 and 8); otherwise a *ContentRangeError wrapping ErrMalformed
// (absent, unparsable, or the unsatisfied form "bytes */N") or ErrMismatch.
func CheckContentRange(header string, off, length, total int64) error {
	e := &ContentRangeError{Header: clip(header), WantFirst: off, WantLast: off + length - 1, WantTotal: total,
		First: -1, Last: -1, Total: -1}
	if off < 0 || length < 1 || off > math.MaxInt64-length+1 {
		e.WantLast = -1
		e.Err = ErrMismatch // nothing valid was asked, so nothing can match
		return e
	}
	if header == "" {
		e.Err = ErrMalformed
		return e
	}
	first, last, tot, err := ParseContentRange(header)
	if err != nil || first < 0 {
		e.Err = ErrMalformed
		return e
	}
	e.First, e.Last, e.Total = first, last, tot
	if first != off || length < 1 || last != e.WantLast || (total >= 0 && tot != total) {
		e.Err = ErrMismatch
		return e
	}
	return nil
}
