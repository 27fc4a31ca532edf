package httphdr

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	tests := []struct {
		in   string
		want []ByteRange
		err  error
	}{
		{"bytes=0-99", []ByteRange{{0, 100}}, nil},
		{"bytes=0-0", []ByteRange{{0, 1}}, nil},
		{"BYTES=10-", []ByteRange{{10, 990}}, nil},
		{"bytes=-100", []ByteRange{{900, 100}}, nil},
		{"bytes=-5000", []ByteRange{{0, 1000}}, nil},
		{"bytes=990-5000", []ByteRange{{990, 10}}, nil},
		{"bytes=0-9223372036854775807", []ByteRange{{0, 1000}}, nil},
		{"bytes=0-1, 5-6 ,\t9-9", []ByteRange{{0, 2}, {5, 2}, {9, 1}}, nil},
		{"bytes=0-1,,5-6", []ByteRange{{0, 2}, {5, 2}}, nil},
		{"bytes=500-,0-", []ByteRange{{500, 500}, {0, 1000}}, nil},
		{"bytes=1000-,0-0", []ByteRange{{0, 1}}, nil}, // unsatisfiable spec dropped
		{"bytes=1000-", nil, ErrUnsatisfiable},
		{"bytes=5000-6000", nil, ErrUnsatisfiable},
		{"bytes=-0", nil, ErrUnsatisfiable},
		{"bytes=5-1", nil, ErrMalformed},
		{"bytes=0-18446744073709551615", nil, ErrMalformed},
		{"bytes=18446744073709551615-", nil, ErrMalformed},
		{"bytes=-9223372036854775808", nil, ErrMalformed},
		{"bytes=9223372036854775808-", nil, ErrMalformed},
		{"bytes=+5-6", nil, ErrMalformed},
		{"bytes=5--6", nil, ErrMalformed},
		{"bytes=-", nil, ErrMalformed},
		{"bytes=", nil, ErrMalformed},
		{"bytes=,", nil, ErrMalformed},
		{"bytes=1", nil, ErrMalformed},
		{"bytes=1 -2", nil, ErrMalformed},
		{"bytes=0x10-20", nil, ErrMalformed},
		{"items=0-1", nil, ErrMalformed},
		{"bytes 0-1", nil, ErrMalformed},
		{"", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRange(tt.in, size)
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("ParseRange(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRange(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRangeEmptyRepresentation(t *testing.T) {
	for _, in := range []string{"bytes=0-", "bytes=-1", "bytes=0-0"} {
		if _, err := ParseRange(in, 0); !errors.Is(err, ErrUnsatisfiable) {
			t.Errorf("ParseRange(%q, 0) error = %v, want ErrUnsatisfiable", in, err)
		}
	}
}

func TestParseRangeCap(t *testing.T) {
	many := "bytes=" + strings.Repeat("0-0,", 20000)
	if _, err := ParseRangeMax(many, 10, 64); !errors.Is(err, ErrTooManyRanges) {
		t.Fatalf("20000 ranges with cap 64: error = %v, want ErrTooManyRanges", err)
	}
	if _, err := ParseRange(many, 10); !errors.Is(err, ErrTooManyRanges) {
		t.Fatalf("20000 ranges with default cap: error = %v, want ErrTooManyRanges", err)
	}
	ok := "bytes=" + strings.Repeat("0-0,", 64)
	got, err := ParseRangeMax(ok, 10, 64)
	if err != nil || len(got) != 64 {
		t.Fatalf("64 ranges with cap 64 = %d ranges, %v", len(got), err)
	}
}

func TestFormatRange(t *testing.T) {
	tests := []struct {
		off, n int64
		want   string
	}{
		{0, 100, "bytes=0-99"},
		{1048576, 1048576, "bytes=1048576-2097151"},
		{7, 0, "bytes=7-"},
		{7, -1, "bytes=7-"},
		{-3, 1, "bytes=0-0"},
		{9223372036854775800, 100, "bytes=9223372036854775800-"},
		{9223372036854775807, 1, "bytes=9223372036854775807-9223372036854775807"},
	}
	for _, tt := range tests {
		if got := FormatRange(tt.off, tt.n); got != tt.want {
			t.Errorf("FormatRange(%d, %d) = %q, want %q", tt.off, tt.n, got, tt.want)
		}
	}
	// Round trip through the parser.
	rs, err := ParseRange(FormatRange(10, 20), 1000)
	if err != nil || !reflect.DeepEqual(rs, []ByteRange{{10, 20}}) {
		t.Errorf("round trip = %v, %v", rs, err)
	}
}

func TestCoalesce(t *testing.T) {
	tests := []struct {
		in        []ByteRange
		want      []ByteRange
		irregular bool
	}{
		{nil, nil, false},
		{[]ByteRange{{0, 10}, {20, 10}}, []ByteRange{{0, 10}, {20, 10}}, false},
		{[]ByteRange{{20, 10}, {0, 10}}, []ByteRange{{0, 10}, {20, 10}}, true},
		{[]ByteRange{{0, 10}, {10, 10}}, []ByteRange{{0, 20}}, true},
		{[]ByteRange{{0, 10}, {5, 2}}, []ByteRange{{0, 10}}, true},
		{[]ByteRange{{0, 10}, {5, 20}, {100, 1}}, []ByteRange{{0, 25}, {100, 1}}, true},
		{[]ByteRange{{0, 1}, {1, 1}, {2, 1}, {3, 1}}, []ByteRange{{0, 4}}, true},
		{[]ByteRange{{0, 0}, {5, 1}}, []ByteRange{{5, 1}}, true},
	}
	for i, tt := range tests {
		in := append([]ByteRange(nil), tt.in...)
		got, irr := Coalesce(tt.in)
		if !reflect.DeepEqual(got, tt.want) || irr != tt.irregular {
			t.Errorf("#%d Coalesce(%v) = %v, %v; want %v, %v", i, in, got, irr, tt.want, tt.irregular)
		}
		if !reflect.DeepEqual(in, tt.in) {
			t.Errorf("#%d Coalesce modified its input", i)
		}
	}
}

func TestTotalLength(t *testing.T) {
	if n, ok := TotalLength([]ByteRange{{0, 10}, {5, 7}}); !ok || n != 17 {
		t.Errorf("TotalLength = %d, %v", n, ok)
	}
	if _, ok := TotalLength([]ByteRange{{0, 1 << 62}, {0, 1 << 62}, {0, 1 << 62}}); ok {
		t.Error("TotalLength overflow not reported")
	}
}

func FuzzRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=5-", "bytes=5-1", "bytes=0-18446744073709551615",
		"bytes=-9223372036854775808", "bytes=0-,1-,2-", "bytes= 1-2 , 3-4", "BYTES=0-0"} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		rs, err := ParseRangeMax(s, size, 16)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsatisfiable) && !errors.Is(err, ErrTooManyRanges) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if len(rs) == 0 || len(rs) > 16 {
			t.Fatalf("%d ranges without error", len(rs))
		}
		for _, r := range rs {
			if r.Start < 0 || r.Length < 1 || r.Start >= size || r.Length > size-r.Start {
				t.Fatalf("range %v outside [0,%d)", r, size)
			}
			// Each range formats to a header that parses back to itself.
			back, err := ParseRange(FormatRange(r.Start, r.Length), size)
			if err != nil || len(back) != 1 || back[0] != r {
				t.Fatalf("round trip of %v: %v, %v", r, back, err)
			}
		}
		m, _ := Coalesce(rs)
		for i := 1; i < len(m); i++ {
			if m[i].Start <= m[i-1].End() {
				t.Fatalf("Coalesce left overlapping or adjacent ranges: %v", m)
			}
		}
		if n, ok := TotalLength(m); !ok || n > size {
			t.Fatalf("coalesced total %d (ok %v) exceeds size %d", n, ok, size)
		}
		_ = fmt.Sprint(rs)
	})
}
