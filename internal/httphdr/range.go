package httphdr

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// DefaultMaxRanges is the cap ParseRange applies to the number of range-specs in one
// Range header (Apache's default is 200; SECURITY.md rule 16).
const DefaultMaxRanges = 200

// ByteRange is a resolved, satisfiable byte range of a representation:
// the bytes [Start, Start+Length). Length is always >= 1 in parser results.
type ByteRange struct {
	Start  int64
	Length int64
}

// Last is the offset of the last byte of r (Start+Length-1).
func (r ByteRange) Last() int64 { return r.Start + r.Length - 1 }

// End is the offset just past r (Start+Length).
func (r ByteRange) End() int64 { return r.Start + r.Length }

// ContentRange formats r as a Content-Range value for a representation of size bytes.
func (r ByteRange) ContentRange(size int64) string {
	return FormatContentRange(r.Start, r.Last(), size)
}

// ParseRange parses a Range request header value for a representation of size bytes,
// allowing at most DefaultMaxRanges range-specs. See ParseRangeMax.
func ParseRange(s string, size int64) ([]ByteRange, error) {
	return ParseRangeMax(s, size, DefaultMaxRanges)
}

// ParseRangeMax parses a Range request header value ("bytes=0-99, 200-, -50") for a
// representation of size bytes (RFC 9110 §14.1.2) and returns the satisfiable ranges,
// in the order written, each clamped to the representation. Unsatisfiable specs
// (first-pos >= size, suffix-length 0) are dropped.
//
// Errors: ErrMalformed for anything off the grammar (another unit, signs, spaces
// inside a spec, first > last as in "bytes=5-1", a number above 2^63-1 such as
// "bytes=0-18446744073709551615" or "bytes=-9223372036854775808"); ErrTooManyRanges
// when more than max specs are listed (max <= 0 means DefaultMaxRanges);
// ErrUnsatisfiable when no spec selects a byte.
// The unit name is compared case-insensitively; empty list elements are skipped.
func ParseRangeMax(s string, size int64, max int) ([]ByteRange, error) {
	if max <= 0 {
		max = DefaultMaxRanges
	}
	if size < 0 {
		return nil, fmt.Errorf("range: negative representation size %d: %w", size, ErrMalformed)
	}
	unit, set, ok := strings.Cut(s, "=")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return nil, malformed("range", "not a bytes range %q", clip(s))
	}
	var out []ByteRange
	specs := 0
	for elem := range strings.SplitSeq(set, ",") {
		elem = trimOWS(elem)
		if elem == "" {
			continue
		}
		specs++
		if specs > max {
			return nil, fmt.Errorf("range: more than %d ranges: %w", max, ErrTooManyRanges)
		}
		first, last, ok := strings.Cut(elem, "-")
		if !ok {
			return nil, malformed("range", "spec %q lacks '-'", clip(elem))
		}
		if first == "" { // suffix-range
			n, ok := parseDigits(last)
			if !ok {
				return nil, malformed("range", "bad suffix length in %q", clip(elem))
			}
			if n == 0 || size == 0 {
				continue
			}
			n = min(n, size)
			out = append(out, ByteRange{Start: size - n, Length: n})
			continue
		}
		a, ok := parseDigits(first)
		if !ok {
			return nil, malformed("range", "bad first-pos in %q", clip(elem))
		}
		b := int64(math.MaxInt64)
		if last != "" {
			if b, ok = parseDigits(last); !ok {
				return nil, malformed("range", "bad last-pos in %q", clip(elem))
			}
			if b < a {
				return nil, malformed("range", "last-pos before first-pos in %q", clip(elem))
			}
		}
		if a >= size {
			continue
		}
		b = min(b, size-1)
		out = append(out, ByteRange{Start: a, Length: b - a + 1}) // a <= b < size: no overflow
	}
	if specs == 0 {
		return nil, malformed("range", "empty range set")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("range: %q selects nothing of %d bytes: %w", clip(s), size, ErrUnsatisfiable)
	}
	return out, nil
}

// FormatRange formats a Range request header value asking for length bytes at off:
// "bytes=off-last". A length <= 0, or one whose end would overflow an int64, asks for
// everything from off ("bytes=off-"). A negative off is treated as 0.
func FormatRange(off, length int64) string {
	off = max(off, 0)
	if length <= 0 || off > math.MaxInt64-length+1 {
		return "bytes=" + strconv.FormatInt(off, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+length-1, 10)
}

// Coalesce sorts ranges by start and merges those that overlap or touch, as a server
// does before answering a multi-range request (RFC 9110 §14.2, SECURITY.md rule 16).
// irregular reports whether the input was out of order, overlapping or adjacent, i.e.
// whether the result differs from the input. The input slice is not modified.
// Ranges with Length < 1 are dropped.
func Coalesce(ranges []ByteRange) (merged []ByteRange, irregular bool) {
	rs := make([]ByteRange, 0, len(ranges))
	for _, r := range ranges {
		if r.Length >= 1 && r.Start >= 0 && r.Start <= math.MaxInt64-r.Length {
			rs = append(rs, r)
		} else {
			irregular = true
		}
	}
	if !sort.SliceIsSorted(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start }) {
		irregular = true
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	}
	for _, r := range rs {
		if n := len(merged); n > 0 && r.Start <= merged[n-1].End() {
			irregular = true
			if e := r.End(); e > merged[n-1].End() {
				merged[n-1].Length = e - merged[n-1].Start
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged, irregular
}

// TotalLength sums the lengths of ranges; ok is false on overflow or a negative length.
func TotalLength(ranges []ByteRange) (total int64, ok bool) {
	for _, r := range ranges {
		if r.Length < 0 || total > math.MaxInt64-r.Length {
			return 0, false
		}
		total += r.Length
	}
	return total, true
}

// clip shortens s for error messages so that a hostile 1 MB header does not end up in
// a log line, and quotes nothing (callers use %q).
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
