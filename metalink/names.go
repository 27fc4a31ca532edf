package metalink

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Name limits: a component longer than 255 bytes cannot be created on common
// file systems; a whole name longer than 4096 bytes exceeds PATH_MAX.
const (
	maxNameComponent = 255
	maxNameBytes     = 4096
)

// windowsReserved are device names Windows refuses as a file name, with or
// without an extension ("nul.txt"), in any case.
var windowsReserved = map[string]bool{
	"con": true, "prn": true, "aux": true, "nul": true, "conin$": true, "conout$": true,
	"com1": true, "com2": true, "com3": true, "com4": true, "com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true, "lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true,
	"com¹": true, "com²": true, "com³": true, "lpt¹": true, "lpt²": true, "lpt³": true,
}

// CheckName validates a remote-supplied relative path (file@name, metaurl@name,
// signature@file) component by component, with the same portable rules on every
// operating system (SECURITY.md rule 5, catalogue B1 cases 1-5 and 7). The
// error wraps ErrUnsafeName and says which rule the name breaks.
//
// A name is a non-empty, slash-separated relative path of at most 4096 bytes
// of valid UTF-8. It is refused when it:
//   - starts or ends with "/", or has an empty component ("a//b");
//   - contains a backslash, a control character (C0, DEL, C1), a Unicode
//     bidirectional override, or any of the characters Windows forbids: < > : " | ? *
//     (":" also excludes drive letters such as "C:x");
//   - has a component that starts with "." (".", "..", and hidden names such as
//     "a/.ssh/authorized_keys" everywhere in the path: a download never creates a
//     dot-file or dot-directory), or starts with "~";
//   - has a component that starts or ends with a space, or ends with a dot;
//   - has a component that is a Windows device name (CON, PRN, AUX, NUL, COM1-9,
//     LPT1-9), with or without an extension, in any case;
//   - has a component longer than 255 bytes.
func CheckName(name string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %q: %s", ErrUnsafeName, name, fmt.Sprintf(format, a...))
	}
	switch {
	case name == "":
		return bad("empty name")
	case len(name) > maxNameBytes:
		return bad("longer than %d bytes", maxNameBytes)
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case name[0] == '/':
		return bad("absolute path")
	case strings.HasSuffix(name, "/"):
		return bad("ends with /")
	}
	for _, r := range name {
		switch {
		case r == '\\':
			return bad("contains a backslash")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Cc, r):
			return bad("contains control character %U", r)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			return bad("contains bidirectional control %U", r)
		case strings.ContainsRune(`<>:"|?*`, r):
			return bad("contains %q", r)
		}
	}
	for _, c := range strings.Split(name, "/") {
		switch {
		case c == "":
			return bad("empty path component")
		case c == "." || c == "..":
			return bad("%q component", c)
		case c[0] == '.':
			return bad("component %q starts with a dot (hidden names are refused)", c)
		case c[0] == '~':
			return bad("component %q starts with ~", c)
		case c[0] == ' ' || c[len(c)-1] == ' ':
			return bad("component %q starts or ends with a space", c)
		case c[len(c)-1] == '.':
			return bad("component %q ends with a dot", c)
		case len(c) > maxNameComponent:
			return bad("component longer than %d bytes", maxNameComponent)
		}
		base := c
		if i := strings.IndexByte(base, '.'); i >= 0 {
			base = base[:i]
		}
		if windowsReserved[strings.ToLower(strings.TrimRight(base, " "))] {
			return bad("component %q is a reserved device name on Windows", c)
		}
	}
	return nil
}

// nameKey folds a name for collision detection: NFC-normalised and case-folded,
// so that names one file system would store as the same file compare equal.
func nameKey(name string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(name)))
}
