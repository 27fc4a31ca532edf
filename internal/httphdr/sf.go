package httphdr

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// This file is a small RFC 8941 structured-field dictionary parser: just enough for
// Repr-Digest and Want-Repr-Digest, but complete in what it accepts, so that a field
// with any syntax error is refused as a whole, as RFC 8941 §4.2 requires.

type sfKind int

const (
	sfInteger sfKind = iota + 1
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
	sfInnerList
)

type sfItem struct {
	kind    sfKind
	integer int64
	str     string // string, token, or decimal text
	bytes   []byte
	boolean bool
}

type sfMember struct {
	key  string
	item sfItem
}

// maxSFMembers bounds dictionaries and inner lists against hostile headers.
const maxSFMembers = 1024

var errSF = errors.New("invalid structured field")

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool  { return p.i >= len(p.s) }
func (p *sfParser) peek() byte { return p.s[p.i] }
func (p *sfParser) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errSF, what, p.i)
}

// parseSFDictionary parses s as an RFC 8941 dictionary and returns its members in order;
// a repeated key overwrites the earlier value in place.
func parseSFDictionary(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	for !p.eof() && p.peek() == ' ' {
		p.i++
	}
	var out []sfMember
	for !p.eof() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var it sfItem
		if !p.eof() && p.peek() == '=' {
			p.i++
			if it, err = p.itemOrInnerList(); err != nil {
				return nil, err
			}
		} else {
			it = sfItem{kind: sfBoolean, boolean: true}
			if err := p.params(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for j := range out {
			if out[j].key == key {
				out[j].item, replaced = it, true
			}
		}
		if !replaced {
			if len(out) >= maxSFMembers {
				return nil, p.fail("too many members")
			}
			out = append(out, sfMember{key: key, item: it})
		}
		p.ows()
		if p.eof() {
			return out, nil
		}
		if p.peek() != ',' {
			return nil, p.fail("expected ','")
		}
		p.i++
		p.ows()
		if p.eof() {
			return nil, p.fail("trailing ','")
		}
	}
	return out, nil // empty field: empty dictionary
}

func (p *sfParser) ows() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

func (p *sfParser) key() (string, error) {
	if p.eof() || !(p.peek() >= 'a' && p.peek() <= 'z' || p.peek() == '*') {
		return "", p.fail("expected key")
	}
	st := p.i
	for !p.eof() {
		c := p.peek()
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*' {
			p.i++
			continue
		}
		break
	}
	return p.s[st:p.i], nil
}

func (p *sfParser) itemOrInnerList() (sfItem, error) {
	if !p.eof() && p.peek() == '(' {
		p.i++
		n := 0
		for {
			for !p.eof() && p.peek() == ' ' {
				p.i++
			}
			if p.eof() {
				return sfItem{}, p.fail("unterminated inner list")
			}
			if p.peek() == ')' {
				p.i++
				return sfItem{kind: sfInnerList}, p.params()
			}
			if n++; n > maxSFMembers {
				return sfItem{}, p.fail("inner list too long")
			}
			if _, err := p.bareItem(); err != nil {
				return sfItem{}, err
			}
			if err := p.params(); err != nil {
				return sfItem{}, err
			}
			if !p.eof() && p.peek() != ' ' && p.peek() != ')' {
				return sfItem{}, p.fail("expected ' ' or ')' in inner list")
			}
		}
	}
	it, err := p.bareItem()
	if err != nil {
		return sfItem{}, err
	}
	return it, p.params()
}

func (p *sfParser) params() error {
	for n := 0; !p.eof() && p.peek() == ';'; n++ {
		if n >= maxSFMembers {
			return p.fail("too many parameters")
		}
		p.i++
		for !p.eof() && p.peek() == ' ' {
			p.i++
		}
		if _, err := p.key(); err != nil {
			return err
		}
		if !p.eof() && p.peek() == '=' {
			p.i++
			if _, err := p.bareItem(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *sfParser) bareItem() (sfItem, error) {
	if p.eof() {
		return sfItem{}, p.fail("expected item")
	}
	switch c := p.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		st := p.i
		p.i++
		for !p.eof() && (isTchar(p.peek()) || p.peek() == ':' || p.peek() == '/') {
			p.i++
		}
		return sfItem{kind: sfToken, str: p.s[st:p.i]}, nil
	case c == ':':
		p.i++
		end := strings.IndexByte(p.s[p.i:], ':')
		if end < 0 {
			return sfItem{}, p.fail("unterminated byte sequence")
		}
		enc := p.s[p.i : p.i+end]
		for j := 0; j < len(enc); j++ {
			b := enc[j]
			if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=') {
				return sfItem{}, p.fail("bad byte in byte sequence")
			}
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(enc)
		if err != nil {
			if raw, err = base64.RawStdEncoding.Strict().DecodeString(enc); err != nil {
				return sfItem{}, p.fail("bad base64 in byte sequence")
			}
		}
		p.i += end + 1
		return sfItem{kind: sfBytes, bytes: raw}, nil
	case c == '?':
		if p.i+1 >= len(p.s) || (p.s[p.i+1] != '0' && p.s[p.i+1] != '1') {
			return sfItem{}, p.fail("bad boolean")
		}
		v := p.s[p.i+1] == '1'
		p.i += 2
		return sfItem{kind: sfBoolean, boolean: v}, nil
	}
	return sfItem{}, p.fail("unknown item type")
}

// number parses an sf-integer (at most 15 digits) or sf-decimal (12.3 digits).
func (p *sfParser) number() (sfItem, error) {
	st := p.i
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	digits, frac, dot := 0, 0, false
	var n int64
	for !p.eof() {
		c := p.peek()
		if c >= '0' && c <= '9' {
			if dot {
				frac++
			} else {
				digits++
				n = n*10 + int64(c-'0')
			}
			p.i++
			continue
		}
		if c == '.' && !dot {
			if digits > 12 {
				return sfItem{}, p.fail("decimal too long")
			}
			dot = true
			p.i++
			continue
		}
		break
	}
	switch {
	case digits == 0:
		return sfItem{}, p.fail("expected digit")
	case !dot && digits > 15:
		return sfItem{}, p.fail("integer too long")
	case dot && (frac == 0 || frac > 3):
		return sfItem{}, p.fail("bad decimal")
	case dot:
		return sfItem{kind: sfDecimal, str: p.s[st:p.i]}, nil
	}
	if neg {
		n = -n
	}
	return sfItem{kind: sfInteger, integer: n}, nil
}

func (p *sfParser) str() (sfItem, error) {
	p.i++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		p.i++
		switch {
		case c == '\\':
			if p.eof() || (p.peek() != '"' && p.peek() != '\\') {
				return sfItem{}, p.fail("bad escape in string")
			}
			b.WriteByte(p.peek())
			p.i++
		case c == '"':
			return sfItem{kind: sfString, str: b.String()}, nil
		case c < 0x20 || c > 0x7e:
			return sfItem{}, p.fail("bad byte in string")
		default:
			b.WriteByte(c)
		}
	}
	return sfItem{}, p.fail("unterminated string")
}
