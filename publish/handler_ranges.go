package publish

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// rangeGap is the largest gap between two requested ranges that is merged
// into one part: below it, the bytes in between cost less than the headers of
// another multipart part (RFC 9110 section 14.2 allows coalescing such ranges).
const rangeGap = 80

// byteRange is a resolved range: first and last byte offsets, inclusive.
type byteRange struct{ first, last int64 }

func (r byteRange) length() int64 { return r.last - r.first + 1 }

// rangePlan is what the handler does with a Range header field: header is
// the canonical, resolved field to pass to http.ServeContent, or "" to
// ignore the field and answer 200 with the whole file.
type rangePlan struct {
	header string
	ranges []byteRange // resolved and coalesced; nil when ignored or unsatisfiable
	why    string      // for tests and logs: "ok", "unit", "too-many", "overlap", "invalid", "unsatisfiable"
}

// planRanges resolves the Range field value v against a file of size bytes,
// with RFC 9110 section 14 semantics and the server-side defences of
// SECURITY.md rule 16:
//
//   - a unit other than bytes is ignored (200);
//   - more than maxRanges range-specs: ignored (200), checked before parsing;
//   - a syntactically invalid field (or first-pos > last-pos) is rejected (416);
//   - a number above 2^63-1 ("bytes=0-18446744073709551615",
//     "bytes=-9223372036854775808") is invalid (416), as nginx and Go's
//     ServeContent answer and SECURITY.md case 69 expects; up to 2^63-1 a last-pos
//     or suffix beyond the file is clamped to it (RFC 9110 section 14.1.2);
//   - specs that do not overlap the file are dropped, and none left is 416
//     with Content-Range: bytes */SIZE;
//   - when the requested lengths add up to more than the file (overlapping
//     specs, "bytes=0-,1-,2-,..."), the field is ignored (200), so a range set
//     never amplifies;
//   - the rest is sorted and coalesced: overlapping ranges and ranges less
//     than rangeGap bytes apart become one.
//
// The canonical header always parses in http.ServeContent: an unsatisfiable
// or invalid field becomes "bytes=SIZE-", which it answers 416 with
// Content-Range: bytes */SIZE after evaluating the preconditions.
func planRanges(v string, size int64, maxRanges int) rangePlan {
	unsat := rangePlan{header: "bytes=" + strconv.FormatInt(size, 10) + "-"}
	unit, set, ok := strings.Cut(strings.TrimSpace(v), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		if ok && isToken(strings.TrimSpace(unit)) {
			return rangePlan{why: "unit"}
		}
		unsat.why = "invalid"
		return unsat
	}
	if strings.Count(set, ",") >= maxRanges {
		n := 0
		for s := range strings.SplitSeq(set, ",") {
			if strings.TrimSpace(s) != "" {
				n++
			}
		}
		if n > maxRanges {
			return rangePlan{why: "too-many"}
		}
	}
	var (
		ranges []byteRange
		sum    int64
		specs  int
	)
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed (RFC 9110 section 5.6.1)
		}
		specs++
		a, b, ok := strings.Cut(spec, "-")
		if !ok {
			unsat.why = "invalid"
			return unsat
		}
		var r byteRange
		if a == "" {
			n, ok := parseSatDigits(b)
			if !ok {
				unsat.why = "invalid"
				return unsat
			}
			if n == 0 || size == 0 {
				continue // unsatisfiable suffix
			}
			r = byteRange{first: max(size-n, 0), last: size - 1}
		} else {
			first, ok := parseSatDigits(a)
			if !ok {
				unsat.why = "invalid"
				return unsat
			}
			last := int64(math.MaxInt64)
			if b != "" {
				if last, ok = parseSatDigits(b); !ok || last < first {
					unsat.why = "invalid"
					return unsat
				}
			}
			if first >= size {
				continue // unsatisfiable
			}
			r = byteRange{first: first, last: min(last, size-1)}
		}
		ranges = append(ranges, r)
		if sum += r.length(); sum > size {
			return rangePlan{why: "overlap"}
		}
	}
	if specs == 0 {
		unsat.why = "invalid"
		return unsat
	}
	if len(ranges) == 0 {
		unsat.why = "unsatisfiable"
		return unsat
	}
	ranges = coalesceRanges(ranges)
	var sb strings.Builder
	sb.WriteString("bytes=")
	for i, r := range ranges {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(r.first, 10))
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatInt(r.last, 10))
	}
	return rangePlan{header: sb.String(), ranges: ranges, why: "ok"}
}

// coalesceRanges sorts ranges and merges those that overlap or lie less than
// rangeGap bytes apart.
func coalesceRanges(rs []byteRange) []byteRange {
	slices.SortFunc(rs, func(a, b byteRange) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		cur := &out[len(out)-1]
		if r.first <= cur.last || r.first-cur.last <= rangeGap {
			cur.last = max(cur.last, r.last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// parseSatDigits parses 1*DIGIT into an int64; a value above math.MaxInt64 is
// not a usable position (false).
func parseSatDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isToken reports whether s is an RFC 9110 token (a range unit).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
