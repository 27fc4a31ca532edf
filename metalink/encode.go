package metalink

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// v3Date is the RFC 822/1123 form Metalink 3.0 and MirrorManager write.
const v3Date = "Mon, 02 Jan 2006 15:04:05 GMT"

// Encode writes m in format f. Only m.Files are written (m.Refused and
// m.Warnings are not part of a document).
//
// Encode validates the model first and writes nothing when it is not
// representable: no files (ErrNoFiles), an unsafe or conflicting name
// (ErrUnsafeName), a malformed hash (ErrBadHash), inconsistent pieces
// (ErrBadPieces), a priority outside 1..999999, a location that is not two
// letters (either case; written in lower case, upper case for MirrorManager), or a string with characters XML cannot carry (ErrBadValue).
//
// FormatV4 output is RFC 5854 conformant and validates against its RELAX NG
// schema: RFC 3339 UTC dates, values without surrounding white space, a fixed
// element order. MirrorManager data (timestamp, alternates, private mirrors)
// is written as mm0 extension elements and attributes. Metalink 3.0 has no
// metaurl names and v4 has no url type, maxconnections, licence or signature
// file: those fields are dropped by the format that lacks them.
//
// FormatV3 writes Metalink 3.0 (v3 hash names such as "sha256", preference =
// clamp(101 - priority, 1..100), torrent metaurls as url type="bittorrent").
// FormatMirrorManager writes the same with the literal mm0 prefix declared on
// the root, upper-case locations and url@protocol, the shape dnf's librepo reads.
func Encode(w io.Writer, m *Metalink, f Format) error {
	if err := validate(m); err != nil {
		return err
	}
	e := &encoder{}
	switch f {
	case FormatV4:
		e.v4(m)
	case FormatV3, FormatMirrorManager:
		e.v3(m, f == FormatMirrorManager)
	default:
		return fmt.Errorf("metalink: encode: unknown format %q (want %q, %q or %q)", f, FormatV4, FormatV3, FormatMirrorManager)
	}
	_, err := w.Write(e.b.Bytes())
	return err
}

// validate checks that m can be written conformantly in every format.
func validate(m *Metalink) error {
	if m == nil || len(m.Files) == 0 {
		return fmt.Errorf("metalink: encode: %w", ErrNoFiles)
	}
	bad := func(where string, err error) error { return fmt.Errorf("metalink: encode: %s: %w", where, err) }
	if m.Lang != "" && !isLangTag(m.Lang) {
		return bad("metalink@xml:lang", fmt.Errorf("%w: %q is not a language tag", ErrBadValue, m.Lang))
	}
	for _, s := range []string{m.Generator, m.Origin} {
		if err := xmlChars(s); err != nil {
			return bad("metalink", err)
		}
	}
	for i := range m.Files {
		f := &m.Files[i]
		where := fmt.Sprintf("file #%d %q", i+1, f.Name)
		if err := CheckName(f.Name); err != nil {
			return bad(where, err)
		}
		if f.Lang != "" && !isLangTag(f.Lang) {
			return bad(where, fmt.Errorf("%w: xml:lang %q is not a language tag", ErrBadValue, f.Lang))
		}
		if f.Size < -1 {
			return bad(where, fmt.Errorf("%w: negative size %d", ErrBadValue, f.Size))
		}
		strs := []string{f.Identity, f.Version, f.Description, f.Copyright, f.Logo}
		strs = append(strs, f.Languages...)
		strs = append(strs, f.OSes...)
		if f.Publisher != nil {
			strs = append(strs, f.Publisher.Name, f.Publisher.URL)
		}
		if f.License != nil {
			strs = append(strs, f.License.Name, f.License.URL)
		}
		for _, s := range f.Signatures {
			strs = append(strs, s.MediaType, s.Value)
			if s.File != "" {
				if err := CheckName(s.File); err != nil {
					return bad(where+": signature@file", err)
				}
			}
		}
		for _, s := range strs {
			if err := xmlChars(s); err != nil {
				return bad(where, err)
			}
		}
		if err := checkHashes(f.Hashes); err != nil {
			return bad(where, err)
		}
		for _, a := range f.Alternates {
			if err := checkHashes(a.Hashes); err != nil {
				return bad(where+": mm0:alternate", err)
			}
		}
		for _, p := range f.Pieces {
			switch {
			case HashHexLen(p.Type) == 0:
				return bad(where, fmt.Errorf("%w: unsupported piece hash type %q", ErrBadPieces, p.Type))
			case p.Length <= 0:
				return bad(where, fmt.Errorf("%w: piece length %d", ErrBadPieces, p.Length))
			case len(p.Hashes) == 0:
				return bad(where, fmt.Errorf("%w: no piece hashes", ErrBadPieces))
			case f.Size >= 0 && int64(len(p.Hashes)) != p.Count(f.Size):
				return bad(where, fmt.Errorf("%w: %d piece hashes for %d pieces", ErrBadPieces, len(p.Hashes), p.Count(f.Size)))
			}
			for _, h := range p.Hashes {
				if v, err := normHash(p.Type, h); err != nil || v != h {
					return bad(where+": pieces", fmt.Errorf("%w: piece hash %s is not lowercase hex of the right length", ErrBadHash, quoteShort(h)))
				}
			}
		}
		for _, u := range f.URLs {
			if err := checkRef(u.URL, u.Priority); err != nil {
				return bad(where+": url", err)
			}
			if u.Location != "" && !isCountry(strings.ToLower(u.Location)) {
				return bad(where+": url", fmt.Errorf("%w: location %q is not two letters", ErrBadValue, u.Location))
			}
			if err := xmlChars(u.Type); err != nil {
				return bad(where+": url", err)
			}
		}
		for _, u := range f.MetaURLs {
			if err := checkRef(u.URL, u.Priority); err != nil {
				return bad(where+": metaurl", err)
			}
			if strings.TrimSpace(u.MediaType) == "" {
				return bad(where+": metaurl", fmt.Errorf("%w: metaurl %s has no mediatype", ErrBadValue, quoteShort(u.URL)))
			}
			if err := xmlChars(u.MediaType); err != nil {
				return bad(where+": metaurl", err)
			}
			if u.Name != "" {
				if err := CheckName(u.Name); err != nil {
					return bad(where+": metaurl@name", err)
				}
			}
		}
	}
	if err := checkConflicts(m.Files); err != nil {
		return fmt.Errorf("metalink: encode: %w", err)
	}
	return nil
}

func checkHashes(hs []Hash) error {
	for _, h := range hs {
		if strings.TrimSpace(h.Type) == "" || h.Value == "" {
			return fmt.Errorf("%w: hash with empty type or value", ErrBadHash)
		}
		if HashHexLen(h.Type) > 0 {
			if v, err := normHash(h.Type, h.Value); err != nil {
				return err
			} else if v != h.Value {
				return fmt.Errorf("%w: %s value is not lower case", ErrBadHash, h.Type)
			}
		}
		if err := xmlChars(h.Type + h.Value); err != nil {
			return err
		}
	}
	return nil
}

func checkRef(u string, prio int) error {
	if strings.TrimSpace(u) == "" || u != strings.TrimSpace(u) {
		return fmt.Errorf("%w: empty URL or URL with surrounding space %q", ErrBadValue, u)
	}
	if prio < 0 || prio > 999999 {
		return fmt.Errorf("%w: priority %d outside 1..999999", ErrBadValue, prio)
	}
	return xmlChars(u)
}

func isCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
}

// xmlChars reports whether XML 1.0 can carry s: valid UTF-8 and only XML Chars.
func xmlChars(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: invalid UTF-8 in %s", ErrBadValue, quoteShort(s))
	}
	for _, r := range s {
		if !(r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return fmt.Errorf("%w: character %U cannot be written in XML", ErrBadValue, r)
		}
	}
	return nil
}

// encoder writes XML by hand: the element set is fixed, so a streaming writer
// with one escaping routine is simpler and much cheaper than a DOM (a 100 000
// piece document would be 100 000 tree nodes).
type encoder struct {
	b     bytes.Buffer
	depth int
}

func (e *encoder) indent() {
	e.b.WriteByte('\n')
	for i := 0; i < e.depth; i++ {
		e.b.WriteString("  ")
	}
}

func escape(b *bytes.Buffer, s string, attr bool) {
	last := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			if !attr {
				continue
			}
			rep = "&quot;"
		case '\r':
			rep = "&#xD;"
		case '\n':
			if !attr {
				continue
			}
			rep = "&#xA;"
		case '\t':
			if !attr {
				continue
			}
			rep = "&#x9;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(rep)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// open writes <name a1="v1" ...> (attrs are name, value pairs; empty values are skipped).
func (e *encoder) open(name string, attrs ...string) {
	e.indent()
	e.b.WriteByte('<')
	e.b.WriteString(name)
	e.attrs(attrs)
	e.b.WriteByte('>')
	e.depth++
}

func (e *encoder) attrs(attrs []string) {
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "" {
			continue
		}
		e.b.WriteByte(' ')
		e.b.WriteString(attrs[i])
		e.b.WriteString(`="`)
		escape(&e.b, attrs[i+1], true)
		e.b.WriteByte('"')
	}
}

func (e *encoder) close(name string) {
	e.depth--
	e.indent()
	e.b.WriteString("</")
	e.b.WriteString(name)
	e.b.WriteByte('>')
}

// leaf writes <name attrs>text</name>, or nothing when text is empty.
// descriptive writes the descriptive children of <file> that v3 and v4 share, in
// the order both schemas accept.
func (e *encoder) descriptive(f *File) {
	e.leaf("identity", f.Identity)
	e.leaf("version", f.Version)
	e.leaf("description", f.Description)
	e.leaf("copyright", f.Copyright)
	for _, l := range f.Languages {
		e.leaf("language", l)
	}
	for _, o := range f.OSes {
		e.leaf("os", o)
	}
	e.leaf("logo", f.Logo)
}

func (e *encoder) leaf(name, text string, attrs ...string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	e.indent()
	e.b.WriteByte('<')
	e.b.WriteString(name)
	e.attrs(attrs)
	e.b.WriteByte('>')
	escape(&e.b, text, false)
	e.b.WriteString("</")
	e.b.WriteString(name)
	e.b.WriteByte('>')
}

func usesMM(m *Metalink) bool {
	for _, f := range m.Files {
		if f.MMTimestamp != 0 || len(f.Alternates) > 0 {
			return true
		}
		for _, u := range f.URLs {
			if u.Private {
				return true
			}
		}
	}
	return false
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func v4Date(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (e *encoder) v4(m *Metalink) {
	e.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	rootAttrs := []string{"xmlns", NamespaceV4}
	if usesMM(m) {
		rootAttrs = append(rootAttrs, "xmlns:mm0", NamespaceMM)
	}
	rootAttrs = append(rootAttrs, "xml:lang", m.Lang)
	e.open("metalink", rootAttrs...)
	e.leaf("generator", m.Generator)
	if m.Origin != "" {
		dyn := ""
		if m.Dynamic {
			dyn = "true"
		}
		e.leaf("origin", m.Origin, "dynamic", dyn)
	}
	if !m.Published.IsZero() {
		e.leaf("published", v4Date(m.Published))
	}
	if !m.Updated.IsZero() {
		e.leaf("updated", v4Date(m.Updated))
	}
	for i := range m.Files {
		f := &m.Files[i]
		e.open("file", "name", f.Name, "xml:lang", f.Lang)
		e.descriptive(f)
		if p := f.Publisher; p != nil && (p.Name != "" || p.URL != "") {
			// name is required by RFC 5854, so it is written even when empty.
			e.indent()
			e.b.WriteString(`<publisher name="`)
			escape(&e.b, strings.TrimSpace(p.Name), true)
			e.b.WriteByte('"')
			e.attrs([]string{"url", strings.TrimSpace(p.URL)})
			e.b.WriteString("/>")
		}
		if f.Size >= 0 {
			e.leaf("size", itoa(f.Size))
		}
		for _, h := range f.Hashes {
			e.leaf("hash", h.Value, "type", h.Type)
		}
		for _, p := range f.Pieces {
			e.open("pieces", "length", itoa(p.Length), "type", p.Type)
			for _, h := range p.Hashes {
				e.leaf("hash", h)
			}
			e.close("pieces")
		}
		for _, s := range f.Signatures {
			if s.MediaType != "" {
				e.leaf("signature", s.Value, "mediatype", s.MediaType)
				break // RFC 5854 allows one
			}
		}
		for _, u := range f.URLs {
			private := ""
			if u.Private {
				private = "true"
			}
			e.leaf("url", u.URL, "location", strings.ToLower(u.Location), "priority", prioAttr(u.Priority), "mm0:private", private)
		}
		for _, u := range f.MetaURLs {
			e.leaf("metaurl", u.URL, "mediatype", u.MediaType, "priority", prioAttr(u.Priority), "name", u.Name)
		}
		e.mm(f, "size", "verification")
		e.close("file")
	}
	e.close("metalink")
	e.b.WriteByte('\n')
}

func prioAttr(p int) string {
	if p <= 0 {
		return ""
	}
	return strconv.Itoa(p)
}

// mm writes mm0:timestamp and mm0:alternates. The alternates' size and
// verification/hash children are in the document's default namespace, as
// MirrorManager writes them.
func (e *encoder) mm(f *File, size, verification string) {
	if f.MMTimestamp != 0 {
		e.leaf("mm0:timestamp", itoa(f.MMTimestamp))
	}
	if len(f.Alternates) == 0 {
		return
	}
	e.open("mm0:alternates")
	for _, a := range f.Alternates {
		e.open("mm0:alternate")
		if a.Timestamp != 0 {
			e.leaf("mm0:timestamp", itoa(a.Timestamp))
		}
		if a.Size >= 0 {
			e.leaf(size, itoa(a.Size))
		}
		if len(a.Hashes) > 0 {
			e.open(verification)
			for _, h := range a.Hashes {
				e.leaf("hash", h.Value, "type", v3HashName(h.Type))
			}
			e.close(verification)
		}
		e.close("mm0:alternate")
	}
	e.close("mm0:alternates")
}

// v3HashName spells a canonical hash name the Metalink 3.0 way ("sha-256" -> "sha256").
func v3HashName(canon string) string {
	if HashHexLen(canon) > 0 {
		return strings.ReplaceAll(canon, "-", "")
	}
	return canon
}

// v3Preference maps a v4 priority to a v3 preference: clamp(101 - p, 1..100).
func v3Preference(p int) string {
	if p <= 0 {
		return ""
	}
	return strconv.Itoa(min(max(101-p, 1), 100))
}

func (e *encoder) v3(m *Metalink, mm bool) {
	if mm {
		e.b.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	} else {
		e.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	}
	attrs := []string{"version", "3.0", "xmlns", NamespaceV3}
	if mm || usesMM(m) {
		attrs = append(attrs, "xmlns:mm0", NamespaceMM)
	}
	typ := "static"
	if m.Dynamic {
		typ = "dynamic"
	}
	attrs = append(attrs, "type", typ, "origin", m.Origin)
	if !m.Published.IsZero() {
		attrs = append(attrs, "pubdate", m.Published.UTC().Format(v3Date))
	}
	if !m.Updated.IsZero() {
		attrs = append(attrs, "refreshdate", m.Updated.UTC().Format(v3Date))
	}
	attrs = append(attrs, "generator", strings.TrimSpace(m.Generator), "xml:lang", m.Lang)
	e.open("metalink", attrs...)
	e.open("files")
	for i := range m.Files {
		f := &m.Files[i]
		e.open("file", "name", f.Name, "xml:lang", f.Lang)
		if f.MMTimestamp != 0 {
			e.leaf("mm0:timestamp", itoa(f.MMTimestamp))
		}
		e.descriptive(f)
		if l := f.License; l != nil && (l.Name != "" || l.URL != "") {
			e.open("license")
			e.leaf("name", l.Name)
			e.leaf("url", l.URL)
			e.close("license")
		}
		if p := f.Publisher; p != nil && (p.Name != "" || p.URL != "") {
			e.open("publisher")
			e.leaf("name", p.Name)
			e.leaf("url", p.URL)
			e.close("publisher")
		}
		if f.Size >= 0 {
			e.leaf("size", itoa(f.Size))
		}
		if len(f.Hashes) > 0 || len(f.Pieces) > 0 || len(f.Signatures) > 0 {
			e.open("verification")
			for _, h := range f.Hashes {
				e.leaf("hash", h.Value, "type", v3HashName(h.Type))
			}
			for _, p := range f.Pieces {
				e.open("pieces", "length", itoa(p.Length), "type", v3HashName(p.Type))
				for i, h := range p.Hashes {
					e.leaf("hash", h, "piece", strconv.Itoa(i))
				}
				e.close("pieces")
			}
			for _, s := range f.Signatures {
				typ := s.MediaType
				if typ == "application/pgp-signature" {
					typ = "pgp"
				}
				e.leaf("signature", s.Value, "type", typ, "file", s.File)
				break
			}
			e.close("verification")
		}
		tmp := *f
		tmp.MMTimestamp = 0
		e.mm(&tmp, "size", "verification")
		if len(f.URLs) > 0 || len(f.MetaURLs) > 0 || f.MaxConnections > 0 {
			mc := ""
			if f.MaxConnections > 0 {
				mc = strconv.Itoa(f.MaxConnections)
			}
			e.open("resources", "maxconnections", mc)
			for _, u := range f.URLs {
				e.urlV3(u.URL, u.Type, u.Location, u.Priority, u.MaxConnections, u.Private, mm)
			}
			for _, u := range f.MetaURLs {
				if u.MediaType == "torrent" {
					e.urlV3(u.URL, "bittorrent", "", u.Priority, 0, false, mm)
				}
			}
			e.close("resources")
		}
		e.close("file")
	}
	e.close("files")
	e.close("metalink")
	e.b.WriteByte('\n')
}

func (e *encoder) urlV3(raw, typ, loc string, prio, maxConns int, private, mm bool) {
	scheme := ""
	if u, err := url.Parse(raw); err == nil {
		scheme = strings.ToLower(u.Scheme)
	}
	if typ == "" {
		typ = scheme
	}
	attrs := []string{}
	loc = strings.ToLower(loc)
	if mm {
		loc = strings.ToUpper(loc)
		proto := scheme
		if typ == "bittorrent" {
			proto = typ
		}
		attrs = append(attrs, "protocol", proto)
	}
	mc := ""
	if maxConns > 0 {
		mc = strconv.Itoa(maxConns)
	}
	priv := ""
	if private {
		priv = "True"
	}
	attrs = append(attrs, "type", typ, "location", loc, "preference", v3Preference(prio), "maxconnections", mc, "mm0:private", priv)
	e.leaf("url", raw, attrs...)
}
