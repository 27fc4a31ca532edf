package httphdr

import (
	"fmt"
	"sort"
	"strings"
)

// Link is one link-value of a Link header (RFC 8288 §3).
type Link struct {
	// URL is the target URI-Reference exactly as written between < and >; resolve it
	// against the request URL before use.
	URL string
	// Rel is the rel parameter, lower-cased; it may hold several space-separated
	// relation types ("duplicate describedby"). Use HasRel to test for one.
	Rel string
	// Params holds the other parameters by lower-cased name; a parameter without a value
	// ("pref") maps to "". Only the first occurrence of a name counts (RFC 8288 §3.3).
	Params map[string]string
}

// HasRel reports whether rel is one of l's relation types (case-insensitive).
func (l Link) HasRel(rel string) bool {
	for r := range strings.FieldsSeq(l.Rel) {
		if strings.EqualFold(r, rel) {
			return true
		}
	}
	return false
}

// Pri returns the RFC 6249 "pri" parameter (1..999999, lower is preferred); ok is false
// when absent or not a decimal integer in that range.
func (l Link) Pri() (pri int, ok bool) {
	v, present := l.Params["pri"]
	if !present {
		return 0, false
	}
	n, ok := parseDigits(v)
	if !ok || n < 1 || n > 999999 {
		return 0, false
	}
	return int(n), true
}

// Pref reports whether the RFC 6249 "pref" parameter is present (a preferred mirror).
func (l Link) Pref() bool { _, ok := l.Params["pref"]; return ok }

// Geo returns the RFC 6249 "geo" parameter (ISO 3166-1 alpha-2) lower-cased, or "".
func (l Link) Geo() string { return strings.ToLower(l.Params["geo"]) }

// Type returns the "type" parameter (a media type hint), or "".
func (l Link) Type() string { return l.Params["type"] }

// MaxLinks caps the number of link-values ParseLink accepts (a hostile server could
// send thousands).
const MaxLinks = 1000

// ParseLink parses the values of one or more Link header lines (RFC 8288 §3), each
// holding one or more comma-separated link-values:
//
//	<http://a/f>; rel=duplicate; pri=1; geo=de; pref, <f.meta4>; rel=describedby; type="application/metalink4+xml"
//
// The parse is strict: a value off the grammar makes the whole call fail with
// ErrMalformed naming the line, and so do more than MaxLinks links. Empty list
// elements are skipped.
func ParseLink(values ...string) ([]Link, error) {
	var out []Link
	for i, v := range values {
		p := &linkParser{s: v}
		for {
			p.skipOWS()
			if p.done() {
				break
			}
			if p.peek() == ',' {
				p.i++
				continue
			}
			l, err := p.link()
			if err != nil {
				return nil, malformed("link", "line %d at byte %d: %v in %q", i+1, p.i, err, clip(v))
			}
			if len(out) >= MaxLinks {
				return nil, malformed("link", "more than %d links", MaxLinks)
			}
			out = append(out, l)
			p.skipOWS()
			if !p.done() && p.peek() != ',' {
				return nil, malformed("link", "line %d at byte %d: expected ',' in %q", i+1, p.i, clip(v))
			}
		}
	}
	return out, nil
}

type linkParser struct {
	s string
	i int
}

func (p *linkParser) done() bool { return p.i >= len(p.s) }
func (p *linkParser) peek() byte { return p.s[p.i] }
func (p *linkParser) skipOWS() {
	for p.i < len(p.s) && isOWS(p.s[p.i]) {
		p.i++
	}
}

func (p *linkParser) link() (Link, error) {
	if p.peek() != '<' {
		return Link{}, fmt.Errorf("expected '<'")
	}
	end := strings.IndexByte(p.s[p.i+1:], '>')
	if end < 0 {
		return Link{}, fmt.Errorf("unterminated '<'")
	}
	u := p.s[p.i+1 : p.i+1+end]
	for j := 0; j < len(u); j++ {
		if c := u[j]; c <= ' ' || c == 0x7f || c == '<' {
			return Link{}, fmt.Errorf("bad byte %#x in URI", c)
		}
	}
	p.i += end + 2
	l := Link{URL: u}
	relSeen := false
	for {
		p.skipOWS()
		if p.done() || p.peek() != ';' {
			return l, nil
		}
		p.i++
		p.skipOWS()
		name := p.token()
		if name == "" {
			return Link{}, fmt.Errorf("expected parameter name")
		}
		name = strings.ToLower(name)
		p.skipOWS()
		var val string
		hasVal := false
		if !p.done() && p.peek() == '=' {
			p.i++
			p.skipOWS()
			hasVal = true
			if !p.done() && p.peek() == '"' {
				q, err := p.quoted()
				if err != nil {
					return Link{}, err
				}
				val = q
			} else if val = p.token(); val == "" {
				return Link{}, fmt.Errorf("expected value of %q", name)
			}
		}
		if name == "rel" {
			if !relSeen && hasVal {
				l.Rel = strings.ToLower(strings.Join(strings.Fields(val), " "))
			}
			relSeen = true
			continue
		}
		if l.Params == nil {
			l.Params = map[string]string{}
		}
		if _, dup := l.Params[name]; !dup {
			l.Params[name] = val
		}
	}
}

func (p *linkParser) token() string {
	st := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[st:p.i]
}

// quoted parses an RFC 9110 quoted-string starting at '"'.
func (p *linkParser) quoted() (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", fmt.Errorf("unterminated escape")
			}
			c = p.s[p.i+1]
			if !isQDText(c) && c != '"' && c != '\\' {
				return "", fmt.Errorf("bad escaped byte %#x", c)
			}
			b.WriteByte(c)
			p.i += 2
		case isQDText(c):
			b.WriteByte(c)
			p.i++
		default:
			return "", fmt.Errorf("bad byte %#x in quoted string", c)
		}
	}
	return "", fmt.Errorf("unterminated quoted string")
}

// isQDText reports whether c may appear unescaped in a quoted-string (HTAB, SP, VCHAR
// except '"' and '\', obs-text).
func isQDText(c byte) bool {
	return c == '\t' || c == ' ' || (c >= 0x21 && c != '"' && c != '\\' && c != 0x7f)
}

// FormatLink formats links as one Link header value: "<url>; rel=...; pri=1, <...>".
// Parameters are written rel first, then pri, pref, geo, type, then the rest by name;
// values that are not tokens are quoted. Bytes that cannot appear in a header or
// between < and > (controls, space, '<', '>', non-ASCII) are percent-encoded in the URL;
// control characters are dropped from parameter values; parameters whose name is not a token are skipped,
// so the result is always a safe header value.
func FormatLink(links ...Link) string {
	var b strings.Builder
	for i, l := range links {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('<')
		for j := 0; j < len(l.URL); j++ {
			c := l.URL[j]
			if c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
		b.WriteByte('>')
		if l.Rel != "" {
			writeParam(&b, "rel", l.Rel, true)
		}
		names := make([]string, 0, len(l.Params))
		for n := range l.Params {
			if strings.EqualFold(n, "rel") || !isToken(n) {
				continue
			}
			names = append(names, n)
		}
		order := map[string]int{"pri": 1, "pref": 2, "geo": 3, "type": 4}
		sort.Slice(names, func(x, y int) bool {
			ox, oy := order[strings.ToLower(names[x])], order[strings.ToLower(names[y])]
			if ox == 0 {
				ox = 99
			}
			if oy == 0 {
				oy = 99
			}
			if ox != oy {
				return ox < oy
			}
			return names[x] < names[y]
		})
		for _, n := range names {
			writeParam(&b, strings.ToLower(n), l.Params[n], l.Params[n] != "")
		}
	}
	return b.String()
}

func writeParam(b *strings.Builder, name, val string, hasVal bool) {
	b.WriteString("; ")
	b.WriteString(name)
	if !hasVal {
		return
	}
	b.WriteByte('=')
	if isToken(val) {
		b.WriteString(val)
		return
	}
	b.WriteByte('"')
	for j := 0; j < len(val); j++ {
		c := val[j]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t' || (c >= ' ' && c != 0x7f):
			b.WriteByte(c) // VCHAR, SP, HTAB and obs-text (>= 0x80) are allowed
		}
	}
	b.WriteByte('"')
}
