package publish

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Mirror is one mirror (or the origin) serving the published tree: a file's URL is
// MirrorURL(URL, its name).
type Mirror struct {
	// URL is the absolute http or https base URL of the published root on this mirror.
	URL string
	// Priority is the metalink priority, 1 (most preferred) .. 999999; 0 = unset.
	Priority int
	// Location is an ISO 3166-1 alpha-2 country code, lowercase; "" = unknown.
	Location string
}

// ErrBadMirror is wrapped by every mirror parsing error.
var ErrBadMirror = errors.New("bad mirror")

// MirrorsFileError is an error in a mirrors file, with its line number.
type MirrorsFileError struct {
	// Line is the 1-based line number.
	Line int
	// Err is the cause; it wraps ErrBadMirror.
	Err error
}

func (e *MirrorsFileError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *MirrorsFileError) Unwrap() error { return e.Err }

// ParseMirrorFlag parses the --mirror syntax "URL[,priority=N][,location=CC]".
func ParseMirrorFlag(s string) (Mirror, error) {
	return parseMirrorFields(strings.Split(strings.TrimSpace(s), ","))
}

// ParseMirrorsFile parses a mirrors file: one mirror per line, "URL [priority=N]
// [location=CC]" (fields separated by spaces, tabs or commas); blank lines and
// everything from a "#" at the start of a line or after a blank are ignored.
// Errors are *MirrorsFileError values carrying the line number. A URL listed
// twice is an error too.
func ParseMirrorsFile(r io.Reader) ([]Mirror, error) {
	var out []Mirror
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := commentStart(text); i >= 0 {
			text = text[:i]
		}
		fields := strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' })
		if len(fields) == 0 {
			continue
		}
		m, err := parseMirrorFields(fields)
		if err != nil {
			return nil, &MirrorsFileError{Line: line, Err: err}
		}
		if prev, ok := seen[m.URL]; ok {
			return nil, &MirrorsFileError{Line: line, Err: fmt.Errorf("%w: %s already listed on line %d", ErrBadMirror, m.URL, prev)}
		}
		seen[m.URL] = line
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, &MirrorsFileError{Line: line + 1, Err: fmt.Errorf("%w: %v", ErrBadMirror, err)}
	}
	return out, nil
}

// commentStart returns the index of a "#" that starts a comment, or -1.
func commentStart(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			return i
		}
	}
	return -1
}

func parseMirrorFields(fields []string) (Mirror, error) {
	var m Mirror
	if len(fields) == 0 || fields[0] == "" {
		return m, fmt.Errorf("%w: empty mirror URL", ErrBadMirror)
	}
	base, err := checkBaseURL(fields[0])
	if err != nil {
		return m, err
	}
	m.URL = base
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		key, val, ok := strings.Cut(f, "=")
		key = strings.ToLower(key)
		if !ok {
			return m, fmt.Errorf("%w: %q: want priority=N or location=CC", ErrBadMirror, f)
		}
		if seen[key] {
			return m, fmt.Errorf("%w: %s given twice", ErrBadMirror, key)
		}
		seen[key] = true
		switch key {
		case "priority":
			p, err := strconv.Atoi(val)
			if err != nil || p < 1 || p > 999999 {
				return m, fmt.Errorf("%w: priority %q: want an integer from 1 to 999999", ErrBadMirror, val)
			}
			m.Priority = p
		case "location":
			if len(val) != 2 || !isASCIILetter(val[0]) || !isASCIILetter(val[1]) {
				return m, fmt.Errorf("%w: location %q: want a two-letter ISO 3166-1 country code", ErrBadMirror, val)
			}
			m.Location = strings.ToLower(val)
		default:
			return m, fmt.Errorf("%w: unknown attribute %q (want priority or location)", ErrBadMirror, key)
		}
	}
	return m, nil
}

func isASCIILetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// CheckOrigin validates the URL a document will be published at: absolute http
// or https with a host and no credentials or fragment (a query is allowed). With
// each set it must be a base URL as for a mirror (no query either).
func CheckOrigin(s string, each bool) error {
	if each {
		_, err := checkBaseURL(s)
		return err
	}
	u, err := url.Parse(s)
	if err != nil || (strings.ToLower(u.Scheme) != "http" && strings.ToLower(u.Scheme) != "https") || u.Host == "" {
		return fmt.Errorf("%w: origin %q is not an absolute http or https URL", ErrBadMirror, s)
	}
	if u.User != nil || u.Fragment != "" || strings.ContainsAny(s, " \t\r\n#") {
		return fmt.Errorf("%w: origin %q has credentials, a fragment or a space", ErrBadMirror, s)
	}
	return nil
}

// checkBaseURL validates a mirror base URL: absolute http or https, with a host,
// without credentials, query or fragment. It returns it unchanged.
func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadMirror, s, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return "", fmt.Errorf("%w: %q is not an absolute URL (want http:// or https://)", ErrBadMirror, s)
	default:
		return "", fmt.Errorf("%w: %q: scheme %q is not http or https", ErrBadMirror, s, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%w: %q has no host", ErrBadMirror, s)
	}
	if u.User != nil {
		return "", fmt.Errorf("%w: %s://%s...: credentials in a mirror URL would be published", ErrBadMirror, u.Scheme, u.Hostname())
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return "", fmt.Errorf("%w: %q: a base URL cannot have a query or fragment", ErrBadMirror, s)
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			return "", fmt.Errorf("%w: %q contains a space or control character (escape it as %%20)", ErrBadMirror, s)
		}
	}
	return s, nil
}

// MirrorURL joins a mirror base URL with a slash-separated relative name, escaping
// each name component (spaces, "#", "%", "?", ";" and non-ASCII become %XX
// UTF-8 escapes) and adding the one "/" between them. The base is kept as given.
func MirrorURL(base, rel string) (string, error) {
	if _, err := checkBaseURL(base); err != nil {
		return "", err
	}
	if rel == "" || strings.HasPrefix(rel, "/") {
		return "", fmt.Errorf("publish: %q is not a relative name", rel)
	}
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		if p == "" || p == "." || p == ".." {
			return "", fmt.Errorf("publish: %q has an empty, . or .. component", rel)
		}
		parts[i] = url.PathEscape(p)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + strings.Join(parts, "/"), nil
}
