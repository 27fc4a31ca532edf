package metalink

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// XML namespaces Decode recognises.
const (
	// NamespaceV4 is the RFC 5854 namespace.
	NamespaceV4 = "urn:ietf:params:xml:ns:metalink"
	// NamespaceV3 is the Metalink 3.0 namespace.
	NamespaceV3 = "http://www.metalinker.org/"
	// NamespaceMM is Fedora MirrorManager's extension namespace (prefix mm0).
	NamespaceMM = "http://fedorahosted.org/mirrormanager"

	nsXML = "http://www.w3.org/XML/1998/namespace"
)

// Default limits of DecodeOptions.
const (
	DefaultMaxBytes          = 8 << 20
	DefaultMaxDepth          = 32
	DefaultMaxElements       = 1_000_000
	DefaultMaxValueBytes     = 64 << 10
	DefaultMaxSignatureBytes = 1 << 20
	DefaultMaxFiles          = 10_000
	DefaultMaxURLs           = 10_000
	maxWarnings              = 1000
	maxAttrs                 = 64 // per element; keeps the duplicate check cheap
)

// DecodeOptions configures Decode. The zero value is useful: every zero field
// takes its default.
type DecodeOptions struct {
	// BaseURL is the absolute URL the document was fetched from; relative <url>,
	// <metaurl> and <origin> references are resolved against it. Without it a
	// relative URL is dropped with a warning.
	BaseURL string
	// MaxBytes caps the document size (default 8 MiB); a larger document is refused
	// with ErrTooLarge after reading at most MaxBytes+1 bytes.
	MaxBytes int64
	// MaxDepth caps element nesting (default 32; the root is depth 1).
	MaxDepth int
	// MaxElements caps the number of elements (default 1 000 000).
	MaxElements int
	// MaxValueBytes caps every attribute value and element text (default 64 KiB),
	// except <signature> text, capped by MaxSignatureBytes (default 1 MiB).
	MaxValueBytes     int
	MaxSignatureBytes int
	// MaxFiles caps the number of <file> entries (default 10 000). More is an
	// error (ErrTooLarge): silently dropping files of a multi-file download would
	// look like success.
	MaxFiles int
	// MaxURLs caps the <url> entries kept per file (default 10 000). Extra URLs
	// are dropped with a warning: the remaining mirrors still describe the file.
	MaxURLs int
	// MaxFileSize, when positive, refuses a file entry whose <size> is larger.
	MaxFileSize int64
}

func (o DecodeOptions) withDefaults() DecodeOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxElements <= 0 {
		o.MaxElements = DefaultMaxElements
	}
	if o.MaxValueBytes <= 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	if o.MaxSignatureBytes <= 0 {
		o.MaxSignatureBytes = DefaultMaxSignatureBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxURLs <= 0 {
		o.MaxURLs = DefaultMaxURLs
	}
	return o
}

// DecodeFile opens path and decodes it with Decode.
func DecodeFile(path string, opts *DecodeOptions) (*Metalink, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a metalink file", path)
	}
	m, err := Decode(f, opts)
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Decode reads one Metalink v4 or v3 document (with MirrorManager mm0
// extensions) from r. The version is detected from the root element's namespace.
//
// A document-level failure (not a metalink, malformed XML, a limit exceeded, a
// forbidden construct, conflicting file names) returns a nil *Metalink and an
// error wrapping one of the sentinels, naming the line and element. A bad <file>
// entry does not fail the document: it lands in m.Refused as a *FileError. When
// no entry is acceptable, Decode returns the document (with its Refused list)
// together with an error wrapping ErrNoFiles. A read error from r is returned
// wrapped, without a sentinel.
func Decode(r io.Reader, opts *DecodeOptions) (*Metalink, error) {
	var o DecodeOptions
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	d := &decoder{o: o, m: &Metalink{}}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("metalink: base URL %q is not an absolute URL: %w", o.BaseURL, ErrBadValue)
		}
		d.base = u
	}
	d.lr = &limitReader{r: r, n: o.MaxBytes}
	br := bufio.NewReaderSize(d.lr, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}), bytes.HasPrefix(head, []byte{0xFF, 0xFE}),
		bytes.HasPrefix(head, []byte{0, 0}), len(head) >= 2 && (head[0] == 0 || head[1] == 0):
		return nil, fmt.Errorf("metalink: line 1: %w: document is UTF-16 or UTF-32; only UTF-8 is accepted", ErrForbidden)
	}
	d.x = xml.NewDecoder(br)
	d.x.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("%w: encoding %q declared; only UTF-8 is accepted", ErrForbidden, charset)
	}
	return d.document()
}

// limitReader returns errLimit once more than n bytes would be read.
type limitReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

var errLimit = errors.New("byte limit reached")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var b [1]byte
		k, err := l.r.Read(b[:])
		if k > 0 {
			l.exceeded = true
			return 0, errLimit
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

type decoder struct {
	x     *xml.Decoder
	lr    *limitReader
	o     DecodeOptions
	base  *url.URL
	m     *Metalink
	ns    string // NamespaceV4 or NamespaceV3
	depth int
	elems int
	nfile int // <file> elements seen
	nwarn int // warnings suppressed beyond maxWarnings

	// Root-level descriptive fields of v3 (and MirrorBrain's v4 publisher),
	// applied to files that lack them.
	rootPub   *Publisher
	rootLic   *License
	rootDesc  string
	rootIdent string
	rootVer   string
	rootCopy  string
	rootLogo  string
}

// fail builds a document-level error with the current line.
func (d *decoder) fail(sentinel error, elem, format string, a ...any) error {
	line, _ := d.x.InputPos()
	where := fmt.Sprintf("line %d", line)
	if elem != "" {
		where += ": <" + elem + ">"
	}
	return fmt.Errorf("metalink: %s: %w: %s", where, sentinel, fmt.Sprintf(format, a...))
}

// wrapErr classifies an error from the XML decoder or the reader.
func (d *decoder) wrapErr(err error) error {
	var se *xml.SyntaxError
	switch {
	case d.lr.exceeded || errors.Is(err, errLimit):
		return fmt.Errorf("metalink: %w: document larger than %d bytes", ErrTooLarge, d.o.MaxBytes)
	case errors.Is(err, ErrForbidden):
		line, _ := d.x.InputPos()
		return fmt.Errorf("metalink: line %d: %w", line, err)
	case errors.As(err, &se):
		return fmt.Errorf("metalink: line %d: %w: %s", se.Line, ErrSyntax, se.Msg)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return d.fail(ErrSyntax, "", "unexpected end of document")
	case strings.HasPrefix(err.Error(), "xml: "):
		return d.fail(ErrSyntax, "", "%s", strings.TrimPrefix(err.Error(), "xml: "))
	}
	return fmt.Errorf("metalink: reading document: %w", err)
}

// token returns the next token after enforcing the structural limits.
func (d *decoder) token() (xml.Token, error) {
	t, err := d.x.Token()
	if err != nil {
		if err == io.EOF && d.depth == 0 {
			return nil, io.EOF
		}
		return nil, d.wrapErr(err)
	}
	switch tt := t.(type) {
	case xml.StartElement:
		d.depth++
		d.elems++
		if d.depth > d.o.MaxDepth {
			return nil, d.fail(ErrTooLarge, tt.Name.Local, "too deep at depth %d (limit %d)", d.depth, d.o.MaxDepth)
		}
		if d.elems > d.o.MaxElements {
			return nil, d.fail(ErrTooLarge, tt.Name.Local, "more than %d elements", d.o.MaxElements)
		}
		if !utf8.ValidString(tt.Name.Local) || !utf8.ValidString(tt.Name.Space) {
			return nil, d.fail(ErrSyntax, "", "invalid UTF-8 in element name")
		}
		if len(tt.Attr) > maxAttrs {
			return nil, d.fail(ErrTooLarge, tt.Name.Local, "%d attributes (limit %d)", len(tt.Attr), maxAttrs)
		}
		for i, a := range tt.Attr {
			if len(a.Value) > d.o.MaxValueBytes {
				return nil, d.fail(ErrTooLarge, tt.Name.Local, "attribute %s is %d bytes (limit %d)", a.Name.Local, len(a.Value), d.o.MaxValueBytes)
			}
			if !utf8.ValidString(a.Value) || !utf8.ValidString(a.Name.Local) || !utf8.ValidString(a.Name.Space) {
				return nil, d.fail(ErrSyntax, tt.Name.Local, "invalid UTF-8 in attribute %s", a.Name.Local)
			}
			for _, b := range tt.Attr[:i] {
				if b.Name == a.Name {
					return nil, d.fail(ErrForbidden, tt.Name.Local, "duplicate attribute %s", a.Name.Local)
				}
			}
		}
	case xml.EndElement:
		d.depth--
	case xml.CharData:
		if max := max(d.o.MaxValueBytes, d.o.MaxSignatureBytes); len(tt) > max && !isSpace(tt) {
			return nil, d.fail(ErrTooLarge, "", "text of %d bytes (limit %d)", len(tt), max)
		}
		if !utf8.Valid(tt) {
			return nil, d.fail(ErrSyntax, "", "invalid UTF-8")
		}
	case xml.Comment:
		if !utf8.Valid(tt) {
			return nil, d.fail(ErrSyntax, "", "invalid UTF-8 in a comment")
		}
	case xml.ProcInst:
		if !utf8.Valid(tt.Inst) {
			return nil, d.fail(ErrSyntax, "", "invalid UTF-8 in a processing instruction")
		}
	case xml.Directive:
		kw := string(tt)
		if i := strings.IndexAny(kw, " \t\r\n"); i >= 0 {
			kw = kw[:i]
		}
		if len(kw) > 20 {
			kw = kw[:20]
		}
		return nil, d.fail(ErrForbidden, "", "<!%s> declaration refused (no DOCTYPE or entity declarations are accepted)", kw)
	}
	return t, nil
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// skip consumes the rest of the element whose start was just read.
func (d *decoder) skip() error {
	for n := 1; n > 0; {
		t, err := d.token()
		if err != nil {
			return d.eofIsSyntax(err)
		}
		switch t.(type) {
		case xml.StartElement:
			n++
		case xml.EndElement:
			n--
		}
	}
	return nil
}

// children calls fn for each child element of the element whose start was just
// read, in order, until that element ends. fn must consume the child it is given
// (d.text, d.skip or a nested reader). Character data between children is ignored.
func (d *decoder) children(fn func(se xml.StartElement) error) error {
	for {
		t, err := d.token()
		if err != nil {
			return d.eofIsSyntax(err)
		}
		switch tt := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if err := fn(tt); err != nil {
				return err
			}
		}
	}
}

// only returns a children callback that hands the children in namespace ns named
// local to fn and skips every other child.
func (d *decoder) only(ns, local string, fn func(se xml.StartElement) error) func(xml.StartElement) error {
	return func(se xml.StartElement) error {
		if se.Name.Space != ns || se.Name.Local != local {
			return d.skip()
		}
		return fn(se)
	}
}

func (d *decoder) eofIsSyntax(err error) error {
	if err == io.EOF {
		return d.fail(ErrSyntax, "", "unexpected end of document")
	}
	return err
}

// text returns the character data of the element whose start was just read,
// trimmed of surrounding white space. Child elements are skipped.
func (d *decoder) text(name string, limit int) (string, error) {
	var s string // the common case: one CharData token
	var b []byte // several tokens (comments or CDATA in between)
	n := 0
	for {
		t, err := d.token()
		if err != nil {
			return "", d.eofIsSyntax(err)
		}
		switch tt := t.(type) {
		case xml.CharData:
			n += len(tt)
			if n > limit && len(bytes.TrimSpace(tt)) > 0 {
				return "", d.fail(ErrTooLarge, name, "value of %d bytes (limit %d)", n, limit)
			}
			switch {
			case n == len(tt):
				s = string(tt)
			case b == nil:
				b = append(append(make([]byte, 0, n), s...), tt...)
			default:
				b = append(b, tt...)
			}
		case xml.StartElement:
			if err := d.skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			if b != nil {
				s = string(b)
			}
			return strings.TrimSpace(s), nil
		}
	}
}

func (d *decoder) warn(format string, a ...any) {
	if len(d.m.Warnings) >= maxWarnings {
		d.nwarn++
		return
	}
	d.m.Warnings = append(d.m.Warnings, fmt.Sprintf(format, a...))
}

func attr(se xml.StartElement, space, local string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == local && a.Name.Space == space {
			return a.Value, true
		}
	}
	return "", false
}

func (d *decoder) document() (*Metalink, error) {
	for {
		t, err := d.token()
		if err == io.EOF {
			return nil, d.fail(ErrNotMetalink, "", "no root element")
		}
		if err != nil {
			return nil, err
		}
		switch tt := t.(type) {
		case xml.CharData:
			if !isSpace(tt) {
				return nil, d.fail(ErrSyntax, "", "text before the root element")
			}
		case xml.StartElement:
			if err := d.root(tt); err != nil {
				return nil, err
			}
			if err := d.epilog(); err != nil {
				return nil, err
			}
			return d.finish()
		}
	}
}

// epilog allows only white space, comments and processing instructions after the root.
func (d *decoder) epilog() error {
	for {
		t, err := d.token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch tt := t.(type) {
		case xml.CharData:
			if !isSpace(tt) {
				return d.fail(ErrForbidden, "", "text after the root element")
			}
		case xml.StartElement:
			return d.fail(ErrForbidden, tt.Name.Local, "second root element after </metalink>")
		}
	}
}

func (d *decoder) root(se xml.StartElement) error {
	if se.Name.Local != "metalink" || (se.Name.Space != NamespaceV4 && se.Name.Space != NamespaceV3) {
		ns := se.Name.Space
		if ns == "" {
			ns = "no namespace"
		} else {
			ns = "namespace " + strconv.Quote(ns)
		}
		return d.fail(ErrNotMetalink, se.Name.Local, "root element <%s> in %s; want <metalink> in %q (v4) or %q (v3)",
			se.Name.Local, ns, NamespaceV4, NamespaceV3)
	}
	d.ns = se.Name.Space
	if lang, ok := attr(se, nsXML, "lang"); ok {
		d.m.Lang = d.lang(lang, "metalink@xml:lang")
	}
	if d.ns == NamespaceV4 {
		d.m.Format = FormatV4
		return d.rootV4()
	}
	d.m.Format = FormatV3
	for _, a := range se.Attr {
		if a.Name.Space == "xmlns" && a.Value == NamespaceMM {
			d.m.Format = FormatMirrorManager
		}
	}
	return d.rootV3(se)
}

func (d *decoder) lang(v, where string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if !isLangTag(v) {
		d.warn("%s %q is not a language tag: ignored", where, v)
		return ""
	}
	return v
}

// isLangTag matches [A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*.
func isLangTag(s string) bool {
	for i, part := range strings.Split(s, "-") {
		if len(part) < 1 || len(part) > 8 {
			return false
		}
		for _, c := range []byte(part) {
			alpha := c|0x20 >= 'a' && c|0x20 <= 'z'
			if !alpha && (i == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

func (d *decoder) rootV4() error {
	return d.children(func(tt xml.StartElement) (err error) {
		if tt.Name.Space != NamespaceV4 {
			return d.skip()
		}
		switch tt.Name.Local {
		case "file":
			return d.file(tt)
		case "generator":
			d.m.Generator, err = d.text("generator", d.o.MaxValueBytes)
		case "origin":
			return d.origin(tt)
		case "published", "updated":
			var s string
			if s, err = d.text(tt.Name.Local, d.o.MaxValueBytes); err == nil {
				t := d.dateV4(s, tt.Name.Local)
				if tt.Name.Local == "published" {
					d.m.Published = t
				} else {
					d.m.Updated = t
				}
			}
		case "publisher":
			var p *Publisher
			if p, err = d.publisher(tt); err == nil && p != nil {
				d.warn("<publisher> at the document level is not RFC 5854 (MirrorBrain style): applied to every file without one")
				d.rootPub = p
			}
		default:
			d.warn("unknown element <%s> in the metalink namespace at the document level: ignored", tt.Name.Local)
			return d.skip()
		}
		return err
	})
}

func (d *decoder) origin(se xml.StartElement) error {
	dynamic := false
	if v, ok := attr(se, "", "dynamic"); ok {
		switch strings.TrimSpace(v) {
		case "true", "1":
			dynamic = true
		case "false", "0":
		default:
			d.warn("origin@dynamic %q is not a boolean: ignored", v)
		}
	}
	s, err := d.text("origin", d.o.MaxValueBytes)
	if err != nil {
		return err
	}
	// dynamic only means something together with a usable origin URL.
	if u, ok := d.resolve(s, func(f string, a ...any) { d.warn("origin: "+f, a...) }); ok {
		d.m.Origin, d.m.Dynamic = u, dynamic
	}
	return nil
}

// usableDate rejects years XML Schema cannot write (xsd:dateTime has no year 0).
func (d *decoder) usableDate(t time.Time, where, s string) time.Time {
	if t.Year() < 1 || t.Year() > 9999 {
		d.warn("%s %q is out of range: ignored", where, s)
		return time.Time{}
	}
	return t
}

func (d *decoder) dateV4(s, where string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return d.usableDate(t.UTC(), "<"+where+">", s)
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		d.warn("<%s> %q has no time zone: taken as UTC", where, s)
		return d.usableDate(t, "<"+where+">", s)
	}
	d.warn("<%s> %q is not an RFC 3339 date: ignored", where, s)
	return time.Time{}
}

var v3DateLayouts = []string{time.RFC1123, time.RFC1123Z, time.RFC822, time.RFC822Z, time.RFC850, time.ANSIC, time.RFC3339Nano,
	"Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700", "2 Jan 2006 15:04:05 MST", "2 Jan 2006 15:04:05 -0700"}

func (d *decoder) dateV3(s, where string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, l := range v3DateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			// v3 dates have whole seconds; truncating keeps v3 round trips exact.
			return d.usableDate(t.UTC().Truncate(time.Second), where, s)
		}
	}
	d.warn("%s %q is not an RFC 822 date: ignored", where, s)
	return time.Time{}
}

func (d *decoder) rootV3(se xml.StartElement) error {
	for _, a := range se.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "origin":
			if u, ok := d.resolve(a.Value, func(f string, a ...any) { d.warn("metalink@origin: "+f, a...) }); ok {
				d.m.Origin = u
			}
		case "type":
			d.m.Dynamic = strings.TrimSpace(a.Value) == "dynamic"
		case "pubdate":
			d.m.Published = d.dateV3(a.Value, "metalink@pubdate")
		case "refreshdate":
			d.m.Updated = d.dateV3(a.Value, "metalink@refreshdate")
		case "generator":
			d.m.Generator = strings.TrimSpace(a.Value)
		}
	}
	return d.children(func(tt xml.StartElement) (err error) {
		if tt.Name.Space != NamespaceV3 {
			return d.skip()
		}
		switch tt.Name.Local {
		case "files":
			return d.children(d.only(NamespaceV3, "file", d.file))
		case "publisher":
			d.rootPub, err = d.publisher(tt)
		case "license":
			d.rootLic, err = d.license()
		case "description":
			d.rootDesc, err = d.text("description", d.o.MaxValueBytes)
		case "identity":
			d.rootIdent, err = d.text("identity", d.o.MaxValueBytes)
		case "version":
			d.rootVer, err = d.text("version", d.o.MaxValueBytes)
		case "copyright":
			d.rootCopy, err = d.text("copyright", d.o.MaxValueBytes)
		case "logo":
			d.rootLogo, err = d.text("logo", d.o.MaxValueBytes)
		default:
			return d.skip()
		}
		return err
	})
}

func (d *decoder) publisher(se xml.StartElement) (*Publisher, error) {
	p := &Publisher{}
	p.Name, _ = attr(se, "", "name")
	p.URL, _ = attr(se, "", "url")
	// MirrorBrain/MirrorCache and Metalink 3.0 write <publisher><name/><url/></publisher>:
	// the child <url> is the publisher's home page, never a mirror.
	if err := d.nameURL(&p.Name, &p.URL, true); err != nil {
		return nil, err
	}
	p.Name, p.URL = strings.TrimSpace(p.Name), strings.TrimSpace(p.URL)
	if p.Name == "" && p.URL == "" {
		return nil, nil
	}
	return p, nil
}

func (d *decoder) license() (*License, error) {
	l := &License{}
	if err := d.nameURL(&l.Name, &l.URL, false); err != nil {
		return nil, err
	}
	if l.Name == "" && l.URL == "" {
		return nil, nil
	}
	return l, nil
}

// nameURL reads the <name> and <url> children of a publisher or license into
// name and url; with firstWins a value already set (from an attribute or an
// earlier child) is kept, otherwise the last child wins.
func (d *decoder) nameURL(name, url *string, firstWins bool) error {
	return d.children(func(tt xml.StartElement) error {
		s, err := d.text(tt.Name.Local, d.o.MaxValueBytes)
		if err != nil || tt.Name.Space != d.ns {
			return err
		}
		var dst *string
		switch tt.Name.Local {
		case "name":
			dst = name
		case "url":
			dst = url
		default:
			return nil
		}
		if !firstWins || *dst == "" {
			*dst = s
		}
		return nil
	})
}

// resolve validates a URL reference and resolves it against the base URL.
// Non-http(s) schemes are kept (the fetcher filters them); unparseable and
// unresolvable references are dropped with a warning.
func (d *decoder) resolve(raw string, warn func(string, ...any)) (string, bool) {
	s := strings.TrimSpace(raw)
	if s == "" {
		warn("empty URL ignored")
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil {
		warn("unparseable URL %s ignored", quoteShort(s))
		return "", false
	}
	if !u.IsAbs() {
		if d.base == nil {
			warn("relative URL %s ignored: no base URL to resolve it against", quoteShort(s))
			return "", false
		}
		u = d.base.ResolveReference(u)
		s = u.String()
	}
	if u.User != nil {
		warn("URL %s carries credentials (userinfo); mlink never sends them", u.Redacted())
	}
	return s, true
}

func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}

// fileState accumulates one <file> entry and the first reason to refuse it.
type fileState struct {
	d        *decoder
	idx      int
	name     string
	f        File
	refusal  *FileError
	nurls    int // <url> elements seen, for the MaxURLs cap
	warnings []string
}

func (fs *fileState) refuse(elem string, err error) {
	if fs.refusal == nil {
		fs.refusal = &FileError{Index: fs.idx, Name: fs.name, Element: elem, Err: err}
	}
}

// warn records a warning about this entry; it is reported only if the entry is
// accepted (a refused entry is reported by its refusal alone).
func (fs *fileState) warn(format string, a ...any) {
	if len(fs.warnings) < maxWarnings {
		fs.warnings = append(fs.warnings, fmt.Sprintf("file #%d %q: %s", fs.idx+1, fs.name, fmt.Sprintf(format, a...)))
	}
}

func (d *decoder) file(se xml.StartElement) error {
	d.nfile++
	if d.nfile > d.o.MaxFiles {
		return d.fail(ErrTooLarge, "file", "more than %d <file> entries", d.o.MaxFiles)
	}
	name, hasName := attr(se, "", "name")
	fs := &fileState{d: d, idx: d.nfile - 1, name: name, f: File{Size: -1}}
	if !hasName {
		fs.refuse("file@name", fmt.Errorf("%w: missing name attribute", ErrUnsafeName))
	} else if err := CheckName(name); err != nil {
		fs.refuse("file@name", err)
	}
	if lang, ok := attr(se, nsXML, "lang"); ok {
		fs.f.Lang = d.lang(lang, fmt.Sprintf("file #%d xml:lang", fs.idx+1))
	}
	var err error
	if d.ns == NamespaceV4 {
		err = d.fileBodyV4(fs)
	} else {
		err = d.fileBodyV3(fs)
	}
	if err != nil {
		return err
	}
	fs.check()
	if fs.refusal != nil {
		d.m.Refused = append(d.m.Refused, fs.refusal)
		return nil
	}
	for _, w := range fs.warnings {
		d.warn("%s", w)
	}
	fs.f.Name = name
	d.m.Files = append(d.m.Files, fs.f)
	return nil
}

func (d *decoder) fileBodyV4(fs *fileState) error {
	f := &fs.f
	return d.fileBody(fs, func(se xml.StartElement) (err error) {
		switch se.Name.Local {
		case "hash":
			typ, _ := attr(se, "", "type")
			var s string
			if s, err = d.text("hash", d.o.MaxValueBytes); err == nil {
				fs.addHash(&f.Hashes, typ, s, "hash", fs.refuse)
			}
			return err
		case "pieces":
			return d.pieces(fs, se)
		case "url":
			return d.urlV4(fs, se)
		case "metaurl":
			return d.metaurlV4(fs, se)
		case "signature":
			mt, _ := attr(se, "", "mediatype")
			var s string
			if s, err = d.text("signature", d.o.MaxSignatureBytes); err == nil {
				mt = strings.TrimSpace(mt)
				switch {
				case mt == "":
					fs.warn("signature without mediatype ignored")
				case len(f.Signatures) > 0:
					fs.warn("second <signature> ignored (RFC 5854 allows one)")
				case s != "":
					f.Signatures = append(f.Signatures, Signature{MediaType: mt, Value: s})
				}
			}
			return err
		}
		fs.warn("unknown element <%s> ignored", se.Name.Local)
		return d.skip()
	})
}

func (d *decoder) fileBodyV3(fs *fileState) error {
	f := &fs.f
	return d.fileBody(fs, func(se xml.StartElement) (err error) {
		switch se.Name.Local {
		case "verification":
			return d.verificationV3(fs)
		case "resources":
			return d.resourcesV3(fs, se)
		case "url":
			fs.warn("<url> outside <resources> ignored")
		case "license":
			f.License, err = d.license()
			return err
		}
		return d.skip() // tags, mimetype, releasedate, changelog, screenshot, upgrade, ...
	})
}

// fileBody reads the children of <file>: MirrorManager elements, those v3 and v4
// share (fileCommon), and own for the rest of the document's namespace.
func (d *decoder) fileBody(fs *fileState, own func(se xml.StartElement) error) error {
	return d.children(func(se xml.StartElement) error {
		switch {
		case se.Name.Space == NamespaceMM:
			return d.mmElement(fs, se)
		case se.Name.Space != d.ns:
			return d.skip()
		}
		if ok, err := d.fileCommon(fs, se); ok {
			return err
		}
		return own(se)
	})
}

// fileCommon reads the children of <file> that v3 and v4 share (size, publisher and
// the descriptive texts) and reports whether se was one of them.
func (d *decoder) fileCommon(fs *fileState, se xml.StartElement) (bool, error) {
	f := &fs.f
	var dst *string
	switch se.Name.Local {
	case "size":
		s, err := d.text("size", d.o.MaxValueBytes)
		if err == nil {
			fs.size(s)
		}
		return true, err
	case "publisher":
		var err error
		f.Publisher, err = d.publisher(se)
		return true, err
	case "language", "os":
		s, err := d.text(se.Name.Local, d.o.MaxValueBytes)
		if err == nil && s != "" {
			if se.Name.Local == "language" {
				f.Languages = append(f.Languages, s)
			} else {
				f.OSes = append(f.OSes, s)
			}
		}
		return true, err
	case "identity":
		dst = &f.Identity
	case "version":
		dst = &f.Version
	case "description":
		dst = &f.Description
	case "copyright":
		dst = &f.Copyright
	case "logo":
		dst = &f.Logo
	default:
		return false, nil
	}
	var err error
	*dst, err = d.text(se.Name.Local, d.o.MaxValueBytes)
	return true, err
}

func (d *decoder) verificationV3(fs *fileState) error {
	f := &fs.f
	return d.children(func(se xml.StartElement) error {
		if se.Name.Space != NamespaceV3 {
			return d.skip()
		}
		switch se.Name.Local {
		case "hash":
			typ, _ := attr(se, "", "type")
			s, err := d.text("hash", d.o.MaxValueBytes)
			if err == nil {
				fs.addHash(&f.Hashes, typ, s, "verification/hash", fs.refuse)
			}
			return err
		case "pieces":
			return d.pieces(fs, se)
		case "signature":
			return d.signatureV3(fs, se)
		}
		return d.skip()
	})
}

func (d *decoder) signatureV3(fs *fileState, se xml.StartElement) error {
	typ, _ := attr(se, "", "type")
	file, hasFile := attr(se, "", "file")
	s, err := d.text("signature", d.o.MaxSignatureBytes)
	if err != nil {
		return err
	}
	if hasFile {
		if err := CheckName(file); err != nil {
			fs.refuse("signature@file", err)
			return nil
		}
	}
	if s == "" {
		return nil
	}
	if len(fs.f.Signatures) > 0 {
		fs.warn("second <signature> ignored")
		return nil
	}
	mt := strings.TrimSpace(typ)
	if mt == "pgp" {
		mt = "application/pgp-signature"
	}
	fs.f.Signatures = append(fs.f.Signatures, Signature{MediaType: mt, File: file, Value: s})
	return nil
}

func (d *decoder) resourcesV3(fs *fileState, se xml.StartElement) error {
	if v, ok := attr(se, "", "maxconnections"); ok {
		fs.f.MaxConnections = fs.maxConns(v, "resources@maxconnections")
	}
	return d.children(d.only(NamespaceV3, "url", func(se xml.StartElement) error { return d.urlV3(fs, se) }))
}

func (fs *fileState) maxConns(v, where string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		fs.warn("%s %q is not a positive integer: ignored", where, v)
		return 0
	}
	return n
}

// priority parses a v4 priority: 1..999999, anything else ignored with a warning.
func (fs *fileState) priority(v, where string) int {
	v = strings.TrimSpace(v)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 999999 || !isDigits(v) {
		fs.warn("%s %q is not in 1..999999: ignored", where, v)
		return 0
	}
	return n
}

// location normalises an ISO 3166-1 alpha-2 code to lower case; anything else is dropped.
func (fs *fileState) location(v, where string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return ""
	}
	if len(v) != 2 || v[0] < 'a' || v[0] > 'z' || v[1] < 'a' || v[1] > 'z' {
		fs.warn("%s %q is not a two-letter country code: ignored", where, v)
		return ""
	}
	return v
}

func (fs *fileState) keepURL() bool {
	fs.nurls++
	if fs.nurls > fs.d.o.MaxURLs {
		if fs.nurls == fs.d.o.MaxURLs+1 {
			fs.warn("more than %d <url> entries: the rest are ignored", fs.d.o.MaxURLs)
		}
		return false
	}
	return true
}

func (d *decoder) urlV4(fs *fileState, se xml.StartElement) error {
	s, err := d.text("url", d.o.MaxValueBytes)
	if err != nil || !fs.keepURL() {
		return err
	}
	u := URL{}
	var ok bool
	if u.URL, ok = d.resolve(s, fs.warnURL); !ok {
		return nil
	}
	if v, ok := attr(se, "", "priority"); ok {
		u.Priority = fs.priority(v, "url@priority")
	}
	if v, ok := attr(se, "", "location"); ok {
		u.Location = fs.location(v, "url@location")
	}
	u.Private = mmPrivate(se)
	fs.f.URLs = append(fs.f.URLs, u)
	return nil
}

func (fs *fileState) warnURL(format string, a ...any) { fs.warn("url: "+format, a...) }

func mmPrivate(se xml.StartElement) bool {
	v, _ := attr(se, NamespaceMM, "private")
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "true" || v == "1"
}

func (d *decoder) metaurlV4(fs *fileState, se xml.StartElement) error {
	s, err := d.text("metaurl", d.o.MaxValueBytes)
	if err != nil {
		return err
	}
	mu := MetaURL{}
	mu.MediaType, _ = attr(se, "", "mediatype")
	mu.MediaType = strings.TrimSpace(mu.MediaType)
	if name, ok := attr(se, "", "name"); ok {
		if err := CheckName(name); err != nil {
			fs.refuse("metaurl@name", err)
			return nil
		}
		mu.Name = name
	}
	if mu.MediaType == "" {
		fs.warn("metaurl without mediatype ignored")
		return nil
	}
	var ok bool
	if mu.URL, ok = d.resolve(s, func(f string, a ...any) { fs.warn("metaurl: "+f, a...) }); !ok {
		return nil
	}
	if v, ok := attr(se, "", "priority"); ok {
		mu.Priority = fs.priority(v, "metaurl@priority")
	}
	fs.f.MetaURLs = append(fs.f.MetaURLs, mu)
	return nil
}

func (d *decoder) urlV3(fs *fileState, se xml.StartElement) error {
	s, err := d.text("url", d.o.MaxValueBytes)
	if err != nil || !fs.keepURL() {
		return err
	}
	u := URL{}
	var ok bool
	if u.URL, ok = d.resolve(s, fs.warnURL); !ok {
		return nil
	}
	if v, ok := attr(se, "", "preference"); ok {
		u.Priority = fs.preference(v)
	}
	if v, ok := attr(se, "", "location"); ok {
		u.Location = fs.location(v, "url@location")
	}
	if v, ok := attr(se, "", "maxconnections"); ok {
		u.MaxConnections = fs.maxConns(v, "url@maxconnections")
	}
	u.Private = mmPrivate(se)
	typ, _ := attr(se, "", "type")
	if typ == "" {
		typ, _ = attr(se, "", "protocol") // MirrorManager's legacy spelling
	}
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ == "" {
		if pu, err := url.Parse(u.URL); err == nil {
			typ = strings.ToLower(pu.Scheme)
		}
	}
	if typ == "bittorrent" {
		fs.f.MetaURLs = append(fs.f.MetaURLs, MetaURL{URL: u.URL, MediaType: "torrent", Priority: u.Priority})
		return nil
	}
	u.Type = typ
	fs.f.URLs = append(fs.f.URLs, u)
	return nil
}

// preference maps a v3 preference (100 = most preferred) to a v4 priority
// (1 = most preferred): priority = 101 - preference. A preference outside
// 1..100 is clamped into it first (with a warning), so that every v3 document
// maps onto priorities 1..100 and Encode's inverse mapping round-trips.
func (fs *fileState) preference(v string) int {
	v = strings.TrimSpace(v)
	p, err := strconv.Atoi(v)
	if err != nil {
		fs.warn("url@preference %q is not a number: ignored", v)
		return 0
	}
	if p < 1 || p > 100 {
		fs.warn("url@preference %d outside 1..100: clamped", p)
		p = min(max(p, 1), 100)
	}
	return 101 - p
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseSize parses a non-negative decimal integer of at most 2^63-1 (digits only:
// no sign, exponent or space inside).
func parseSize(s string) (int64, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("%w: %s is not a non-negative decimal integer", ErrBadValue, quoteShort(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is larger than 2^63-1", ErrBadValue, quoteShort(s))
	}
	return n, nil
}

func (fs *fileState) size(s string) {
	if s == "" {
		fs.warn("empty <size> ignored: size unknown")
		return
	}
	n, err := parseSize(s)
	if err != nil {
		fs.refuse("size", err)
		return
	}
	if fs.f.Size >= 0 && fs.f.Size != n {
		fs.refuse("size", fmt.Errorf("%w: two different sizes %d and %d", ErrBadValue, fs.f.Size, n))
		return
	}
	if max := fs.d.o.MaxFileSize; max > 0 && n > max {
		fs.refuse("size", fmt.Errorf("%w: size %d exceeds the limit of %d bytes", ErrTooLarge, n, max))
		return
	}
	fs.f.Size = n
}

// normHash checks a hash value of a supported type: trimmed, lower-cased, and of
// the exact hex length.
func normHash(canon, v string) (string, error) {
	v = strings.TrimSpace(v)
	want := HashHexLen(canon)
	if !isLowerHex(v) {
		v = strings.ToLower(v) // upper-case hex is accepted; lower it only when needed
	}
	if !isLowerHex(v) {
		return "", fmt.Errorf("%w: %s value %s is not hexadecimal", ErrBadHash, canon, quoteShort(v))
	}
	if len(v) != want {
		return "", fmt.Errorf("%w: %s value has %d hex characters, want %d", ErrBadHash, canon, len(v), want)
	}
	return v, nil
}

// addHash validates and appends a whole-file (or alternate) hash. A malformed
// value of a supported type is fatal (bad calls fail); unsupported types are kept
// as written, with a warning.
func (fs *fileState) addHash(list *[]Hash, typ, value, where string, bad func(string, error)) {
	typ = strings.TrimSpace(typ)
	if typ == "" {
		fs.warn("%s without type ignored", where)
		return
	}
	canon, ok := NormalizeHashName(typ)
	elem := fmt.Sprintf("%s[%s]", where, canon)
	v := strings.TrimSpace(value)
	if ok {
		var err error
		if v, err = normHash(canon, v); err != nil {
			bad(elem, err)
			return
		}
	} else {
		fs.warn("%s type %q is not supported: kept, not verifiable", where, typ)
	}
	for _, h := range *list {
		if h.Type == canon {
			if h.Value != v {
				bad(elem, fmt.Errorf("%w: two different %s values", ErrBadHash, canon))
			}
			return
		}
	}
	*list = append(*list, Hash{Type: canon, Value: v})
}

func (d *decoder) pieces(fs *fileState, se xml.StartElement) error {
	lengthS, _ := attr(se, "", "length")
	typ, _ := attr(se, "", "type")
	var hashes []string
	var idx []int64
	anyIdx, allIdx := false, true
	err := d.children(d.only(d.ns, "hash", func(ce xml.StartElement) error {
		pv, hasIdx := attr(ce, "", "piece")
		s, err := d.text("hash", d.o.MaxValueBytes)
		if err != nil {
			return err
		}
		hashes = append(hashes, s)
		if d.ns == NamespaceV3 {
			n, perr := parseSize(strings.TrimSpace(pv))
			if hasIdx && perr == nil {
				anyIdx = true
			} else {
				allIdx = false
			}
			idx = append(idx, n)
		}
		return nil
	}))
	if err != nil {
		return err
	}
	canon, ok := NormalizeHashName(typ)
	elem := fmt.Sprintf("pieces[%s]", canon)
	if !ok {
		fs.warn("pieces type %q is not supported: that piece set is ignored", strings.TrimSpace(typ))
		return nil
	}
	length, err := parseSize(strings.TrimSpace(lengthS))
	if err != nil || length == 0 {
		if err == nil {
			err = fmt.Errorf("%w: piece length 0", ErrBadPieces)
		} else {
			err = fmt.Errorf("%w: length: %w", ErrBadPieces, err)
		}
		fs.refuse(elem+"@length", err)
		return nil
	}
	if len(hashes) == 0 {
		fs.warn("%s has no piece hashes: ignored", elem)
		return nil
	}
	for i, h := range hashes {
		v, err := normHash(canon, h)
		if err != nil {
			fs.refuse(fmt.Sprintf("%s/hash[%d]", elem, i), err)
			return nil
		}
		hashes[i] = v
	}
	if anyIdx {
		if !allIdx {
			fs.refuse(elem+"/hash@piece", fmt.Errorf("%w: some piece hashes have a piece index and some do not", ErrBadPieces))
			return nil
		}
		ordered := make([]string, len(hashes))
		for i, n := range idx {
			if n >= int64(len(hashes)) || ordered[n] != "" {
				fs.refuse(elem+"/hash@piece", fmt.Errorf("%w: piece index %d out of range or repeated (%d hashes)", ErrBadPieces, n, len(hashes)))
				return nil
			}
			ordered[n] = hashes[i]
		}
		hashes = ordered
	}
	for _, p := range fs.f.Pieces {
		if p.Type == canon {
			fs.refuse(elem, fmt.Errorf("%w: two <pieces> sets of type %s", ErrBadPieces, canon))
			return nil
		}
	}
	fs.f.Pieces = append(fs.f.Pieces, Pieces{Length: length, Type: canon, Hashes: hashes})
	return nil
}

// mmElement handles MirrorManager's mm0:timestamp and mm0:alternates inside a <file>.
func (d *decoder) mmElement(fs *fileState, se xml.StartElement) error {
	switch se.Name.Local {
	case "timestamp":
		s, err := d.text("mm0:timestamp", d.o.MaxValueBytes)
		if err != nil {
			return err
		}
		if n, err := parseSize(s); err == nil {
			fs.f.MMTimestamp = n
		} else if s != "" {
			fs.warn("mm0:timestamp %s is not a number: ignored", quoteShort(s))
		}
		return nil
	case "alternates":
		return d.children(d.only(NamespaceMM, "alternate", func(xml.StartElement) error { return d.alternate(fs) }))
	}
	return d.skip()
}

// alternate reads one mm0:alternate. Its children are matched by local name:
// MirrorManager writes them in the document's namespace, Encode in v4 does the same.
// A malformed hash drops the alternate (an alternate is only a fallback for lagging mirrors).
func (d *decoder) alternate(fs *fileState) error {
	a := Alternate{Size: -1}
	var bad error
	badf := func(elem string, err error) {
		if bad == nil {
			bad = fmt.Errorf("%s: %w", elem, err)
		}
	}
	var walk func(depth int) error
	walk = func(depth int) error {
		for {
			t, err := d.token()
			if err != nil {
				return d.eofIsSyntax(err)
			}
			if _, end := t.(xml.EndElement); end {
				return nil
			}
			ce, ok := t.(xml.StartElement)
			if !ok {
				continue
			}
			switch ce.Name.Local {
			case "timestamp", "size", "hash":
				s, err := d.text(ce.Name.Local, d.o.MaxValueBytes)
				if err != nil {
					return err
				}
				switch ce.Name.Local {
				case "timestamp":
					if n, err := parseSize(s); err == nil {
						a.Timestamp = n
					}
				case "size":
					if n, err := parseSize(s); err == nil {
						a.Size = n
					} else {
						badf("size", err)
					}
				case "hash":
					typ, _ := attr(ce, "", "type")
					fs.addHash(&a.Hashes, typ, s, "mm0:alternate/hash", badf)
				}
			case "verification":
				if depth > 0 {
					err = d.skip()
				} else {
					err = walk(depth + 1)
				}
				if err != nil {
					return err
				}
			default:
				if err := d.skip(); err != nil {
					return err
				}
			}
		}
	}
	if err := walk(0); err != nil {
		return err
	}
	if bad != nil {
		fs.warn("mm0:alternate #%d dropped: %v", len(fs.f.Alternates)+1, bad)
		return nil
	}
	fs.f.Alternates = append(fs.f.Alternates, a)
	return nil
}

// check applies the rules that need the whole entry: piece geometry.
func (fs *fileState) check() {
	f := &fs.f
	for _, p := range f.Pieces {
		elem := fmt.Sprintf("pieces[%s]", p.Type)
		if f.Size < 0 {
			fs.warn("%s: size unknown, piece count %d not checked", elem, len(p.Hashes))
			continue
		}
		want := p.Count(f.Size)
		if int64(len(p.Hashes)) != want {
			fs.refuse(elem, fmt.Errorf("%w: %d piece hashes, but size %d in pieces of %d needs %d",
				ErrBadPieces, len(p.Hashes), f.Size, p.Length, want))
			return
		}
	}
	if len(f.URLs) == 0 && len(f.MetaURLs) == 0 {
		fs.warn("no usable <url> or <metaurl>")
	}
}

// finish applies document-level defaults and checks, and returns the result.
func (d *decoder) finish() (*Metalink, error) {
	m := d.m
	for i := range m.Files {
		f := &m.Files[i]
		if f.Publisher == nil && d.rootPub != nil {
			p := *d.rootPub
			f.Publisher = &p
		}
		if f.License == nil && d.rootLic != nil {
			l := *d.rootLic
			f.License = &l
		}
		def := func(s *string, v string) {
			if *s == "" {
				*s = v
			}
		}
		def(&f.Description, d.rootDesc)
		def(&f.Identity, d.rootIdent)
		def(&f.Version, d.rootVer)
		def(&f.Copyright, d.rootCopy)
		def(&f.Logo, d.rootLogo)
	}
	if err := checkConflicts(m.Files); err != nil {
		return nil, err
	}
	if d.nwarn > 0 {
		m.Warnings = append(m.Warnings, fmt.Sprintf("... and %d more warnings", d.nwarn))
	}
	if len(m.Files) == 0 {
		if len(m.Refused) > 0 {
			return m, fmt.Errorf("metalink: %w: all %d <file> entries refused; first: %v", ErrNoFiles, len(m.Refused), m.Refused[0])
		}
		return m, fmt.Errorf("metalink: %w: the document has no <file> entry", ErrNoFiles)
	}
	return m, nil
}

// checkConflicts refuses the document when two files would be written to the
// same path (equal after case folding and NFC) or one file's path is a
// directory of another ("a" and "a/b").
func checkConflicts(files []File) error {
	type owner struct {
		i    int
		name string
	}
	names := make(map[string]owner, len(files))
	dirs := make(map[string]owner)
	for i, f := range files {
		k := nameKey(f.Name)
		if o, ok := names[k]; ok {
			return fmt.Errorf("metalink: %w: file %q and file %q name the same path", ErrUnsafeName, o.name, f.Name)
		}
		if o, ok := dirs[k]; ok {
			return fmt.Errorf("metalink: %w: file %q is a directory of file %q", ErrUnsafeName, f.Name, o.name)
		}
		names[k] = owner{i, f.Name}
		for j := 0; j < len(k); j++ {
			if k[j] == '/' {
				dk := k[:j]
				if o, ok := names[dk]; ok {
					return fmt.Errorf("metalink: %w: file %q is a directory of file %q", ErrUnsafeName, o.name, f.Name)
				}
				if _, ok := dirs[dk]; !ok {
					dirs[dk] = owner{i, f.Name}
				}
			}
		}
	}
	return nil
}
