package publish

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzPlanRanges: whatever the Range field, planRanges never panics, and
// what it lets through is sorted, disjoint, inside the file, within the cap,
// never more bytes than the file, and written back as a canonical field.
func FuzzPlanRanges(f *testing.F) {
	for _, s := range []string{
		"bytes=0-99", "bytes=-5", "bytes=5-", "bytes=5-1", "bytes=0-,1-,2-", "bytes=0-18446744073709551615",
		"bytes=-9223372036854775808", "bytes=99999999999999999999-", "items=1-2", "bytes=0-0,2-2,4-4", "bytes=,,",
		"bytes=500-599,0-99", " bytes = 1-2 , 3-4 ", "bytes=1-2,",
	} {
		f.Add(s, int64(1000))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			size = 0
		}
		const maxRanges = 8
		p := planRanges(v, size, maxRanges)
		if p.header == "" {
			if p.ranges != nil {
				t.Fatalf("ignored field with ranges %v", p.ranges)
			}
			return
		}
		if p.ranges == nil {
			if p.header != "bytes="+strconv.FormatInt(size, 10)+"-" {
				t.Fatalf("unsatisfiable plan with header %q", p.header)
			}
			return
		}
		if len(p.ranges) > maxRanges {
			t.Fatalf("%d ranges over the cap", len(p.ranges))
		}
		var sum int64
		parts := make([]string, len(p.ranges))
		for i, r := range p.ranges {
			if r.first < 0 || r.last < r.first || r.last >= size {
				t.Fatalf("range %v outside a %d-byte file", r, size)
			}
			if i > 0 && r.first <= p.ranges[i-1].last+rangeGap {
				t.Fatalf("ranges %v and %v not coalesced", p.ranges[i-1], r)
			}
			sum += r.length()
			parts[i] = strconv.FormatInt(r.first, 10) + "-" + strconv.FormatInt(r.last, 10)
		}
		if sum > size {
			t.Fatalf("%d bytes asked of a %d-byte file", sum, size)
		}
		if want := "bytes=" + strings.Join(parts, ","); p.header != want {
			t.Fatalf("header %q, want %q", p.header, want)
		}
	})
}
