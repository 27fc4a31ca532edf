package metalink

// SECURITY.md catalogue cases not fully covered by decode_test.go (docs/CATALOGUE.md
// maps every case to its tests).

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Case 39: a component longer than 255 bytes (counted in bytes, not characters) and a
// whole name longer than PATH_MAX (4096 bytes) are refused with an error naming them.
func TestCatalogueNameLengths(t *testing.T) { // case 39
	long := strings.Repeat("ä", 128) // 256 bytes, 128 characters
	parts := make([]string, 20)
	for i := range parts {
		parts[i] = strings.Repeat("d", 250)
	}
	deep := strings.Join(parts, "/") // 5019 bytes, every component fine
	for _, name := range []string{long, "dir/" + long + "/x", deep} {
		r := refusal(t, name, okBody)
		if !errors.Is(r, ErrUnsafeName) || r.Element != "file@name" {
			t.Errorf("%d-byte name: refusal %v, want ErrUnsafeName at file@name", len(name), r)
		}
		if err := CheckName(name); !errors.Is(err, ErrUnsafeName) {
			t.Errorf("CheckName(%d bytes) = %v", len(name), err)
		}
	}
	for _, ok := range []string{strings.Repeat("ä", 127), strings.Join(parts[:16], "/")} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%d bytes) = %v, want nil", len(ok), err)
		}
	}
}

// Case 24 with the default caps (no limit given by the caller): twice DefaultMaxURLs
// <url> entries are cut to DefaultMaxURLs with a warning, and twice DefaultMaxFiles
// <file> entries fail with ErrTooLarge (100 000 as in the catalogue behaves the same,
// only slower under -race).
func TestCatalogueDefaultCounts(t *testing.T) { // case 24
	var b strings.Builder
	for i := range 2 * DefaultMaxURLs {
		fmt.Fprintf(&b, "<url>https://m%d.example/x</url>", i)
	}
	m := mustDecode(t, v4doc(v4file("x", "<size>3</size>"+b.String())), nil)
	if n := len(m.Files[0].URLs); n != DefaultMaxURLs || !containsWarning(m, fmt.Sprintf("more than %d <url>", DefaultMaxURLs)) {
		t.Errorf("%d URLs: kept %d, warnings %q; want %d and a warning", 2*DefaultMaxURLs, n, m.Warnings, DefaultMaxURLs)
	}
	b.Reset()
	for i := range 2 * DefaultMaxFiles {
		fmt.Fprintf(&b, `<file name="f%d"/>`, i)
	}
	if _, err := decodeString(t, v4doc(b.String()), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d files: err = %v, want ErrTooLarge", 2*DefaultMaxFiles, err)
	}
}
