package httphdr

import (
	"errors"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in                 string
		first, last, total int64
		bad                bool
	}{
		{"bytes 0-99/1000", 0, 99, 1000, false},
		{"bytes 999-999/1000", 999, 999, 1000, false},
		{"BYTES 0-0/1", 0, 0, 1, false},
		{"bytes 0-99/*", 0, 99, -1, false},
		{"bytes */1000", -1, -1, 1000, false},
		{"bytes */0", -1, -1, 0, false},
		{"bytes 0-9223372036854775806/9223372036854775807", 0, 9223372036854775806, 9223372036854775807, false},
		{"bytes */*", 0, 0, 0, true},
		{"bytes 5-1/10", 0, 0, 0, true},
		{"bytes 0-10/10", 0, 0, 0, true},
		{"bytes 0-99/18446744073709551615", 0, 0, 0, true},
		{"bytes 0-18446744073709551615/*", 0, 0, 0, true},
		{"bytes -1-5/10", 0, 0, 0, true},
		{"bytes 0-5/-10", 0, 0, 0, true},
		{"bytes 0-5", 0, 0, 0, true},
		{"bytes 0 -5/10", 0, 0, 0, true},
		{"bytes  0-5/10", 0, 0, 0, true},
		{"bytes=0-5/10", 0, 0, 0, true},
		{"items 0-5/10", 0, 0, 0, true},
		{"", 0, 0, 0, true},
	}
	for _, tt := range tests {
		f, l, tot, err := ParseContentRange(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseContentRange(%q) error = %v, want ErrMalformed", tt.in, err)
			}
			continue
		}
		if err != nil || f != tt.first || l != tt.last || tot != tt.total {
			t.Errorf("ParseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d", tt.in, f, l, tot, err, tt.first, tt.last, tt.total)
		}
	}
}

func TestFormatContentRange(t *testing.T) {
	if got := FormatContentRange(0, 99, 1000); got != "bytes 0-99/1000" {
		t.Errorf("got %q", got)
	}
	if got := FormatContentRange(0, 99, -1); got != "bytes 0-99/*" {
		t.Errorf("got %q", got)
	}
	if got := FormatUnsatisfiedContentRange(1000); got != "bytes */1000" {
		t.Errorf("got %q", got)
	}
	if got := (ByteRange{Start: 100, Length: 100}).ContentRange(1000); got != "bytes 100-199/1000" {
		t.Errorf("got %q", got)
	}
}

func TestCheckContentRange(t *testing.T) {
	tests := []struct {
		header        string
		off, n, total int64
		want          error
	}{
		{"bytes 100-199/1000", 100, 100, 1000, nil},
		{"bytes 100-199/*", 100, 100, -1, nil},
		{"bytes 100-199/1000", 100, 100, -1, nil},
		{"bytes 0-99/1000", 100, 100, 1000, ErrMismatch},    // case 47: shifted start
		{"bytes 100-199/2000", 100, 100, 1000, ErrMismatch}, // case 48: wrong total
		{"bytes 100-199/*", 100, 100, 1000, ErrMismatch},    // unknown total where one is required
		{"bytes 100-150/1000", 100, 100, 1000, ErrMismatch}, // short
		{"", 100, 100, 1000, ErrMalformed},                  // case 49: absent
		{"bytes */1000", 100, 100, 1000, ErrMalformed},      // case 49: unsatisfied form with 206
		{"garbage", 100, 100, 1000, ErrMalformed},
		{"bytes 0-0/1", 0, 0, 1, ErrMismatch},
		{"bytes 9223372036854775806-9223372036854775806/*", 9223372036854775806, 2, -1, ErrMismatch},
	}
	for _, tt := range tests {
		err := CheckContentRange(tt.header, tt.off, tt.n, tt.total)
		if tt.want == nil {
			if err != nil {
				t.Errorf("CheckContentRange(%q, %d, %d, %d) = %v, want nil", tt.header, tt.off, tt.n, tt.total, err)
			}
			continue
		}
		var cre *ContentRangeError
		if !errors.Is(err, tt.want) || !errors.As(err, &cre) {
			t.Errorf("CheckContentRange(%q, %d, %d, %d) = %v, want %v", tt.header, tt.off, tt.n, tt.total, err, tt.want)
		}
	}
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/1000", "bytes */1000", "bytes 0-99/*", "bytes */*", "bytes 5-1/10",
		"bytes 0-18446744073709551615/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := ParseContentRange(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		var back string
		if first < 0 {
			if total < 0 {
				t.Fatalf("%q: unsatisfied form without total", s)
			}
			back = FormatUnsatisfiedContentRange(total)
		} else {
			if last < first || (total >= 0 && last >= total) {
				t.Fatalf("%q parsed to inconsistent %d-%d/%d", s, first, last, total)
			}
			back = FormatContentRange(first, last, total)
			if err := CheckContentRange(back, first, last-first+1, total); err != nil {
				t.Fatalf("CheckContentRange of own output %q: %v", back, err)
			}
		}
		f2, l2, t2, err := ParseContentRange(back)
		if err != nil || f2 != first || l2 != last || t2 != total {
			t.Fatalf("round trip %q -> %q -> %d %d %d %v", s, back, f2, l2, t2, err)
		}
	})
}
