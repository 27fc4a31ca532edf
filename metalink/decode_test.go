package metalink

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	sha256abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	md5abc    = "900150983cd24fb0d6963f7d28e17f72"
	sha1abc   = "a9993e364706816aba3e25717850c26c9cd0d89d"
)

const okBody = `<size>3</size><hash type="sha-256">` + sha256abc + `</hash><url>https://a.example/x</url>`

func v4doc(inner string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">" + inner + "</metalink>\n"
}

func v4file(name, body string) string {
	return `<file name="` + html.EscapeString(name) + `">` + body + `</file>`
}

func v3doc(files string) string {
	return `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<metalink version="3.0" xmlns="http://www.metalinker.org/"><files>` + files + `</files></metalink>`
}

func decodeString(t *testing.T, doc string, opts *DecodeOptions) (*Metalink, error) {
	t.Helper()
	return Decode(strings.NewReader(doc), opts)
}

// mustDecode decodes a document that must be accepted as a whole.
func mustDecode(t *testing.T, doc string, opts *DecodeOptions) *Metalink {
	t.Helper()
	m, err := decodeString(t, doc, opts)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, doc)
	}
	return m
}

// refusal decodes a document with one good file and one file built from body
// and returns the refusal of the second (failing when it was accepted).
func refusal(t *testing.T, name, body string) *FileError {
	t.Helper()
	m := mustDecode(t, v4doc(v4file("good", okBody)+v4file(name, body)), nil)
	if len(m.Files) != 1 || m.Files[0].Name != "good" {
		t.Fatalf("good file not accepted alone: files %+v refused %v", m.Files, m.Refused)
	}
	if len(m.Refused) != 1 {
		t.Fatalf("file %q with %s was accepted (warnings %q)", name, body, m.Warnings)
	}
	r := m.Refused[0]
	if r.Index != 1 || r.Name != name {
		t.Errorf("refusal names index %d %q, want 1 %q", r.Index, r.Name, name)
	}
	return r
}

// B1 cases 1-5: unsafe names are refused, with an error naming the entry; the
// rest of the document is kept.
func TestUnsafeNamesRefused(t *testing.T) {
	names := []string{
		// case 1
		"../evil", "a/../../evil", "/etc/passwd", "./x", "a/..", "a/.", ".", "..", "",
		// case 2
		`..\..\x`, `C:\x`, "C:x", `a\b`,
		// case 3
		"~/.bashrc", "~x", " x", "x ", "x/", "a\tb", "a\x7fb", "a\u0085b", "a|b", "a<b", "a>b",
		// case 4 (decision: dot-components refused everywhere)
		"a/.ssh/authorized_keys", ".hidden",
		// case 5
		"CON", "nul.txt", "aux", "Com1.tar.gz", "lpt9", "x.", "a/x ", "a:b", "file.iso:stream",
		// others
		"a//b", "a/\u202egnp.exe", `a"b`, "a?b", "a*b", strings.Repeat("x", 256),
	}
	for _, name := range names {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			r := refusal(t, name, okBody)
			if !errors.Is(r, ErrUnsafeName) || r.Element != "file@name" {
				t.Errorf("refusal = %v (element %q), want ErrUnsafeName at file@name", r, r.Element)
			}
			if !strings.Contains(r.Error(), "file #2") {
				t.Errorf("error %q does not name the entry", r)
			}
			if err := CheckName(name); !errors.Is(err, ErrUnsafeName) {
				t.Errorf("CheckName(%q) = %v", name, err)
			}
		})
	}
}

func TestCheckNameAccepts(t *testing.T) {
	for _, name := range []string{"a", "a/b/c.tar.gz", "LibO_3.5.4_Win_x86_install_multi.msi", "ünïcode/файл", "a b", "x~", "con2", "console.txt", "a.b.c", "a-b_c+d(1)"} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", name, err)
		}
	}
	for _, r := range []rune{0, 1, 0x1f, 0x7f, 0x9f} {
		if err := CheckName("a" + string(r)); err == nil {
			t.Errorf("control character %U accepted", r)
		}
	}
}

// B1 case 6: conflicting names reject the whole document.
func TestConflictingNamesRejectDocument(t *testing.T) {
	for _, pair := range [][2]string{
		{"a", "a"}, {"README", "readme"}, {"caf\u00e9", "cafe\u0301"}, {"a", "a/b"}, {"a/b", "a"}, {"A/b", "a/c/d"[0:1]},
	} {
		doc := v4doc(v4file(pair[0], okBody) + v4file(pair[1], okBody))
		m, err := decodeString(t, doc, nil)
		if !errors.Is(err, ErrUnsafeName) || m != nil {
			t.Errorf("%q + %q: err = %v, m = %v; want the document rejected with ErrUnsafeName", pair[0], pair[1], err, m)
		}
	}
	// Distinct names in one directory are fine.
	mustDecode(t, v4doc(v4file("a/b", okBody)+v4file("a/c", okBody)), nil)
}

// B1 case 7: metaurl@name and v3 signature@file are checked like file@name.
func TestOtherNamesChecked(t *testing.T) {
	r := refusal(t, "x", okBody+`<metaurl mediatype="torrent" name="../x">https://a.example/x.torrent</metaurl>`)
	if r.Element != "metaurl@name" || !errors.Is(r, ErrUnsafeName) {
		t.Errorf("metaurl@name: %v", r)
	}
	m := mustDecode(t, v3doc(`<file name="ok"><size>3</size></file><file name="x"><verification><signature type="pgp" file="../x.sig">sig</signature></verification></file>`), nil)
	if len(m.Refused) != 1 || m.Refused[0].Element != "signature@file" || !errors.Is(m.Refused[0], ErrUnsafeName) {
		t.Errorf("signature@file: refused %v", m.Refused)
	}
	m = mustDecode(t, v3doc(`<file name="x"><verification><signature type="pgp" file="x.sig">sig</signature></verification></file>`), nil)
	if s := m.Files[0].Signatures; len(s) != 1 || s[0].File != "x.sig" || s[0].MediaType != "application/pgp-signature" {
		t.Errorf("signature = %+v", s)
	}
}

// B1 case 8: elements are matched by namespace.
func TestForeignNamespaceIgnored(t *testing.T) {
	doc := v4doc(`<e:file xmlns:e="urn:evil" name="../../x"><e:url>https://evil/</e:url></e:file>` +
		v4file("real", okBody+`<e:url xmlns:e="urn:evil">https://evil/</e:url><url xmlns="urn:evil">https://evil2/</url>`))
	m := mustDecode(t, doc, nil)
	if len(m.Files) != 1 || len(m.Refused) != 0 || m.Files[0].Name != "real" {
		t.Fatalf("files %+v refused %v", m.Files, m.Refused)
	}
	if u := m.Files[0].URLs; len(u) != 1 || u[0].URL != "https://a.example/x" {
		t.Errorf("urls = %+v, want only the metalink-namespace one", u)
	}
	// A v3 <file> inside a v4 document is not a file either.
	m = mustDecode(t, v4doc(v4file("real", okBody)+`<file xmlns="http://www.metalinker.org/" name="../x"/>`), nil)
	if len(m.Files) != 1 || len(m.Refused) != 0 {
		t.Errorf("v3-namespace file in v4 document was used: %+v %v", m.Files, m.Refused)
	}
}

// B1 case 9: wrong or missing root namespace.
func TestNotMetalink(t *testing.T) {
	for _, doc := range []string{
		`<metalink><file name="a"/></metalink>`,
		`<metalink xmlns="urn:ietf:params:xml:ns:metalinkX"><file name="a"/></metalink>`,
		`<m:metalink xmlns:m="urn:evil"/>`,
		`<feed xmlns="urn:ietf:params:xml:ns:metalink"/>`,
		``, `   `, `<?xml version="1.0"?>`,
	} {
		_, err := decodeString(t, doc, nil)
		if !errors.Is(err, ErrNotMetalink) && !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err = %v, want ErrNotMetalink", doc, err)
		}
	}
	_, err := decodeString(t, `<metalink><file name="a"/></metalink>`, nil)
	if !errors.Is(err, ErrNotMetalink) || !strings.Contains(err.Error(), "no namespace") {
		t.Errorf("message does not explain the namespace: %v", err)
	}
}

// B1 case 10: DOCTYPE with entities is refused before any expansion.
func TestDoctypeRefused(t *testing.T) {
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
		`<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">` +
		`<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>` +
		v4doc(v4file("&lol9;", okBody))[len(`<?xml version="1.0" encoding="UTF-8"?>`):]
	for _, doc := range []string{laughs, `<!DOCTYPE metalink>` + v4doc(v4file("a", okBody))} {
		_, err := decodeString(t, doc, nil)
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "DOCTYPE") {
			t.Errorf("err = %v, want ErrForbidden naming DOCTYPE", err)
		}
	}
	// An undeclared entity reference is malformed XML, never resolved.
	if _, err := decodeString(t, v4doc(`<file name="&xxe;">`+okBody+`</file>`), nil); !errors.Is(err, ErrSyntax) {
		t.Errorf("undeclared entity: err = %v, want ErrSyntax", err)
	}
}

// B1 case 11: an external entity is refused and never fetched.
func TestExternalEntityNeverFetched(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	for _, sys := range []string{"http://" + ln.Addr().String() + "/evil.dtd", "file:///etc/passwd"} {
		doc := `<?xml version="1.0"?><!DOCTYPE metalink [<!ENTITY xxe SYSTEM "` + sys + `">]>` +
			`<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a"><description>&xxe;</description>` + okBody + `</file></metalink>`
		_, err := decodeString(t, doc, nil)
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: err = %v, want ErrForbidden", sys, err)
		}
		if err != nil && strings.Contains(err.Error(), "root:") {
			t.Errorf("error leaks file content: %v", err)
		}
	}
	// Also with a DOCTYPE naming an external DTD only.
	decodeString(t, `<!DOCTYPE metalink SYSTEM "http://`+ln.Addr().String()+`/x.dtd">`+v4doc(v4file("a", okBody)), nil)
	ln.Close()
	<-done
	if n := conns.Load(); n != 0 {
		t.Fatalf("the listener saw %d connections, want 0", n)
	}
}

// B1 case 12: deep nesting stops at depth 33 with bounded memory.
func TestTooDeep(t *testing.T) {
	const n = 1_000_000
	r := io.MultiReader(strings.NewReader(`<metalink xmlns="urn:ietf:params:xml:ns:metalink">`),
		strings.NewReader(strings.Repeat("<a>", n)), strings.NewReader(strings.Repeat("</a>", n)), strings.NewReader("</metalink>"))
	_, err := Decode(r, nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "too deep at depth 33") {
		t.Fatalf("err = %v, want ErrTooLarge 'too deep at depth 33'", err)
	}
	// Exactly at the limit is fine (root = depth 1, 31 nested + the root = 32).
	doc := v4doc(v4file("a", okBody) + strings.Repeat("<x:a xmlns:x=\"urn:x\">", 31) + strings.Repeat("</x:a>", 31))
	mustDecode(t, doc, nil)
}

// repeatReader yields b n times without allocating n*len(b) bytes.
type repeatReader struct {
	b   []byte
	n   int64 // total bytes to produce
	off int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.off < r.n {
		c := copy(p[k:], r.b[r.off%int64(len(r.b)):])
		if rem := r.n - r.off; int64(c) > rem {
			c = int(rem)
		}
		k += c
		r.off += int64(c)
	}
	return k, nil
}

// B1 case 13: huge values and documents fail with ErrTooLarge, memory bounded by the caps.
func TestTooLarge(t *testing.T) {
	big := func(prefix string, fill byte, size int64, suffix string) io.Reader {
		return io.MultiReader(strings.NewReader(prefix), &repeatReader{b: bytes.Repeat([]byte{fill}, 64<<10), n: size}, strings.NewReader(suffix))
	}
	head := `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a">`
	cases := map[string]io.Reader{
		"50 MB attribute":  big(`<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="`, 'a', 50<<20, `"/></metalink>`),
		"50 MB text":       big(head+"<description>", 'a', 50<<20, "</description></file></metalink>"),
		"9 MB document":    big(head+okBody+"<!--", 'a', 9<<20, "--></file></metalink>"),
		"100 KB attribute": big(`<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="`, 'a', 100<<10, `">`+okBody+`</file></metalink>`),
		"100 KB text":      big(head+okBody+"<description>", 'a', 100<<10, "</description></file></metalink>"),
	}
	limit := int64(DefaultMaxBytes) // the default cap; smaller under -race (see raceEnabled)
	if raceEnabled {
		limit = 1 << 20
	}
	for name, r := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decode(r, &DecodeOptions{MaxBytes: limit})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err = %v, want ErrTooLarge", name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%s: allocated %d MiB, want it bounded by the 8 MiB cap", name, alloc>>20)
		}
	}
	// A signature may be larger than the value cap, up to its own cap.
	sig := strings.Repeat("A", 100<<10)
	m := mustDecode(t, v4doc(v4file("a", okBody+`<signature mediatype="application/pgp-signature">`+sig+`</signature>`)), nil)
	if len(m.Files[0].Signatures[0].Value) != len(sig) {
		t.Error("100 KiB signature not kept")
	}
	// Caps are configurable.
	if _, err := decodeString(t, v4doc(v4file("a", okBody)), &DecodeOptions{MaxBytes: 50}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxBytes 50: err = %v", err)
	}
	var attrs strings.Builder
	for i := 0; i < 100_000; i++ {
		fmt.Fprintf(&attrs, " a%d=\"\"", i)
	}
	if _, err := decodeString(t, v4doc(`<file name="a"`+attrs.String()+`>`+okBody+`</file>`), nil); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "attributes") {
		t.Errorf("100 000 attributes: err = %v, want ErrTooLarge", err)
	}
	if _, err := decodeString(t, v4doc(v4file("a", okBody)), &DecodeOptions{MaxElements: 3}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxElements 3: err = %v", err)
	}
}

// B1 case 14: duplicate attributes.
func TestDuplicateAttribute(t *testing.T) {
	for _, doc := range []string{
		v4doc(`<file name="ok" name="../x">` + okBody + `</file>`),
		v4doc(`<file name="ok" xmlns:a="urn:x" xmlns:b="urn:x" a:n="1" b:n="2">` + okBody + `</file>`),
		v4doc(v4file("ok", `<size>3</size><url priority="1" priority="2">https://a/</url>`)),
	} {
		_, err := decodeString(t, doc, nil)
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "duplicate attribute") {
			t.Errorf("err = %v, want ErrForbidden duplicate attribute", err)
		}
	}
}

// B1 case 15: nothing but white space, comments and PIs after the root.
func TestTrailingContent(t *testing.T) {
	good := v4doc(v4file("a", okBody))
	for _, tail := range []string{"<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\"/>", "garbage", "<x/>", "]]>"} {
		if _, err := decodeString(t, good+tail, nil); !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrSyntax) {
			t.Errorf("tail %q: err = %v, want refusal", tail, err)
		}
	}
	mustDecode(t, good+"\n<!-- c -->\n<?pi x?>\n\n", nil)
}

// B1 case 16: only UTF-8.
func TestEncodings(t *testing.T) {
	body := v4doc(v4file("a", okBody))[len(`<?xml version="1.0" encoding="UTF-8"?>`):]
	for _, c := range []struct {
		name string
		doc  string
		want error
	}{
		{"latin1 declared", `<?xml version="1.0" encoding="ISO-8859-1"?>` + body, ErrForbidden},
		{"utf-16 declared", `<?xml version="1.0" encoding="UTF-16"?>` + body, ErrForbidden},
		{"utf-16 BOM", "\xfe\xff\x00<\x00m", ErrForbidden},
		{"utf-16le BOM", "\xff\xfe<\x00m\x00", ErrForbidden},
		{"utf-16 no BOM", "\x00<\x00m", ErrForbidden},
		{"invalid utf-8 in text", v4doc(v4file("a", okBody+"<description>\xff\xfe</description>")), ErrSyntax},
		{"invalid utf-8 in attribute", v4doc(v4file("a\xc3", okBody)), ErrSyntax},
		{"invalid utf-8 in comment", v4doc(v4file("a", okBody+"<!-- \xff -->")), ErrSyntax},
	} {
		_, err := decodeString(t, c.doc, nil)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if c.want == ErrForbidden && err != nil && !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("%s: message does not say only UTF-8 is accepted: %v", c.name, err)
		}
	}
	for _, doc := range []string{"\xef\xbb\xbf" + v4doc(v4file("a", okBody)), `<?xml version="1.0" encoding="utf-8"?>` + body, body} {
		mustDecode(t, doc, nil)
	}
}

// B1 case 17: sizes.
func TestSizes(t *testing.T) {
	for _, s := range []string{"-1", "abc", "1e9", "+5", "9223372036854775808", "99999999999999999999999", "0x10", "1 2", "５"} {
		r := refusal(t, "x", `<size>`+s+`</size>`)
		if r.Element != "size" || !errors.Is(r, ErrBadValue) {
			t.Errorf("size %q: refusal %v", s, r)
		}
	}
	m := mustDecode(t, v4doc(v4file("x", "<size> 9223372036854775807 </size>")), nil)
	if m.Files[0].Size != 1<<63-1 {
		t.Errorf("max size = %d", m.Files[0].Size)
	}
	m = mustDecode(t, v4doc(v4file("x", "<url>https://a/</url>")), nil)
	if m.Files[0].Size != -1 {
		t.Errorf("absent size = %d, want -1", m.Files[0].Size)
	}
	m = mustDecode(t, v4doc(v4file("good", "<size>10</size>")+v4file("x", "<size>11</size>")), &DecodeOptions{MaxFileSize: 10})
	if len(m.Refused) != 1 || !errors.Is(m.Refused[0], ErrTooLarge) {
		t.Errorf("MaxFileSize: refused %v", m.Refused)
	}
	r := refusal(t, "x", "<size>1</size><size>2</size>")
	if r.Element != "size" {
		t.Errorf("two sizes: %v", r)
	}
}

// B1 cases 18-22: hash values checked by length and alphabet, no fallback.
func TestHashes(t *testing.T) {
	for _, h := range []string{
		`<hash type="sha-256">` + sha256abc[:63] + `</hash>`,
		`<hash type="sha-256">` + sha256abc + `0</hash>`,
		`<hash type="sha-256">` + "g" + sha256abc[1:] + `</hash>`,
		`<hash type="sha-256"></hash>`,
		`<hash type="md5">` + md5abc[:31] + `</hash><hash type="sha-256">` + sha256abc + `</hash>`, // no fallback either way
		`<hash type="sha-256">` + sha256abc + `</hash><hash type="sha-256">` + strings.Repeat("0", 64) + `</hash>`,
	} {
		r := refusal(t, "x", "<size>3</size>"+h)
		if !errors.Is(r, ErrBadHash) || !strings.HasPrefix(r.Element, "hash[") {
			t.Errorf("%s: refusal %v (element %q)", h, r, r.Element)
		}
	}
	m := mustDecode(t, v4doc(v4file("x", `<hash type="SHA-256"> `+strings.ToUpper(sha256abc)+` </hash><hash type="md5">`+md5abc+`</hash>`)), nil)
	f := m.Files[0]
	if h, ok := f.StrongestHash(); !ok || h.Value != sha256abc || h.Type != "sha-256" {
		t.Errorf("uppercase hex and type: strongest = %+v", h)
	}
	// case 22: weakest first still picks sha-256.
	if f.Hashes[0].Type != "sha-256" || len(f.Hashes) != 2 {
		t.Errorf("hashes = %+v", f.Hashes)
	}
	// case 19: only weak hashes: accepted here, flagged weak for the fetcher.
	m = mustDecode(t, v4doc(v4file("x", `<hash type="md5">`+md5abc+`</hash><hash type="sha-1">`+sha1abc+`</hash>`)), nil)
	if h, _ := m.Files[0].StrongestHash(); h.Type != "sha-1" || !IsWeakHash(h.Type) {
		t.Errorf("weak-only strongest = %+v", h)
	}
	// case 21: unknown algorithms are kept but never count as a hash.
	m = mustDecode(t, v4doc(v4file("x", `<hash type="sha3-999">zz</hash><hash type="foo">1</hash>`)), nil)
	if _, ok := m.Files[0].StrongestHash(); ok || len(m.Files[0].Hashes) != 2 {
		t.Errorf("unknown-only: %+v", m.Files[0].Hashes)
	}
	if !containsWarning(m, "not supported") {
		t.Errorf("no warning for unsupported hash: %q", m.Warnings)
	}
	// v3 names.
	m = mustDecode(t, v3doc(`<file name="x"><verification><hash type="sha256">`+sha256abc+`</hash><hash type="sha1">`+sha1abc+`</hash><hash>notype</hash></verification></file>`), nil)
	if got := m.Files[0].Hashes; len(got) != 2 || got[0].Type != "sha-256" || got[1].Type != "sha-1" {
		t.Errorf("v3 hash names: %+v", got)
	}
}

func containsWarning(m *Metalink, sub string) bool {
	for _, w := range m.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func pieceHashes(n int, h string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("<hash>" + h + "</hash>")
	}
	return b.String()
}

// B1 case 23: piece geometry.
func TestPieces(t *testing.T) {
	bad := []struct{ name, body, elem string }{
		{"length 0", `<size>10</size><pieces length="0" type="sha-256">` + pieceHashes(1, sha256abc) + `</pieces>`, "pieces[sha-256]@length"},
		{"length negative", `<size>10</size><pieces length="-4" type="sha-256">` + pieceHashes(1, sha256abc) + `</pieces>`, "pieces[sha-256]@length"},
		{"length missing", `<size>10</size><pieces type="sha-256">` + pieceHashes(1, sha256abc) + `</pieces>`, "pieces[sha-256]@length"},
		{"length overflow", `<size>10</size><pieces length="92233720368547758070" type="sha-256">` + pieceHashes(1, sha256abc) + `</pieces>`, "pieces[sha-256]@length"},
		{"too few", `<size>10</size><pieces length="4" type="sha-256">` + pieceHashes(2, sha256abc) + `</pieces>`, "pieces[sha-256]"},
		{"too many", `<size>10</size><pieces length="4" type="sha-256">` + pieceHashes(4, sha256abc) + `</pieces>`, "pieces[sha-256]"},
		{"length > size, 2 hashes", `<size>10</size><pieces length="5222222222222222222" type="sha-256">` + pieceHashes(2, sha256abc) + `</pieces>`, "pieces[sha-256]"},
		{"size 0 with a piece", `<size>0</size><pieces length="4" type="sha-256">` + pieceHashes(1, sha256abc) + `</pieces>`, "pieces[sha-256]"},
		{"bad piece hash", `<size>10</size><pieces length="4" type="sha-256">` + pieceHashes(2, sha256abc) + "<hash>abc</hash></pieces>", "pieces[sha-256]/hash[2]"},
		{"duplicate set", `<size>4</size><pieces length="4" type="sha-256">` + pieceHashes(1, sha256abc) + `</pieces><pieces length="2" type="sha256">` + pieceHashes(2, sha256abc) + `</pieces>`, "pieces[sha-256]"},
	}
	for _, c := range bad {
		r := refusal(t, "x", c.body)
		if !errors.Is(r, ErrBadPieces) && !errors.Is(r, ErrBadHash) {
			t.Errorf("%s: refusal %v, want ErrBadPieces", c.name, r)
		}
		if r.Element != c.elem {
			t.Errorf("%s: element %q, want %q", c.name, r.Element, c.elem)
		}
	}
	// Length > size is one short piece (decision, see doc.go).
	m := mustDecode(t, v4doc(v4file("x", `<size>10</size><pieces length="5222222222222222222" type="sha-256">`+pieceHashes(1, sha256abc)+`</pieces>`)), nil)
	p := m.Files[0].Pieces[0]
	if off, n, ok := p.Piece(10, 0); !ok || off != 0 || n != 10 || p.Count(10) != 1 {
		t.Errorf("huge length: piece 0 = %d,%d,%v", off, n, ok)
	}
	// Exact multiple and short last piece.
	m = mustDecode(t, v4doc(v4file("x", `<size>10</size><pieces length="4" type="sha-256">`+pieceHashes(3, sha256abc)+`</pieces>`)), nil)
	if off, n, ok := m.Files[0].Pieces[0].Piece(10, 2); !ok || off != 8 || n != 2 {
		t.Errorf("last piece = %d,%d,%v", off, n, ok)
	}
	// An unsupported piece type drops only that set.
	m = mustDecode(t, v4doc(v4file("x", `<size>10</size><pieces length="4" type="tiger">`+pieceHashes(3, "zz")+`</pieces><pieces length="5" type="sha-1">`+pieceHashes(2, sha1abc)+`</pieces>`)), nil)
	if ps := m.Files[0].Pieces; len(ps) != 1 || ps[0].Type != "sha-1" || !containsWarning(m, "tiger") {
		t.Errorf("unsupported set: %+v, warnings %q", ps, m.Warnings)
	}
	// v3 piece indexes put hashes in order; bad indexes refuse.
	other := strings.Replace(sha1abc, "a", "b", 1)
	m = mustDecode(t, v3doc(`<file name="x"><size>10</size><verification><pieces length="5" type="sha1"><hash piece="1">`+other+`</hash><hash piece="0">`+sha1abc+`</hash></pieces></verification></file>`), nil)
	if h := m.Files[0].Pieces[0].Hashes; h[0] != sha1abc || h[1] != other {
		t.Errorf("v3 indexes not honoured: %q", h)
	}
	for _, hs := range []string{
		`<hash piece="0">` + sha1abc + `</hash><hash piece="0">` + sha1abc + `</hash>`,
		`<hash piece="0">` + sha1abc + `</hash><hash piece="2">` + sha1abc + `</hash>`,
		`<hash piece="0">` + sha1abc + `</hash><hash>` + sha1abc + `</hash>`,
	} {
		m = mustDecode(t, v3doc(`<file name="ok"/><file name="x"><size>10</size><verification><pieces length="5" type="sha1">`+hs+`</pieces></verification></file>`), nil)
		if len(m.Refused) != 1 || !errors.Is(m.Refused[0], ErrBadPieces) {
			t.Errorf("%s: refused %v", hs, m.Refused)
		}
	}
	// Size unknown: accepted with a warning.
	m = mustDecode(t, v4doc(v4file("x", `<pieces length="4" type="sha-256">`+pieceHashes(3, sha256abc)+`</pieces>`)), nil)
	if !containsWarning(m, "size unknown") {
		t.Errorf("no warning for unchecked piece count: %q", m.Warnings)
	}
}

// B1 case 24: many files and URLs.
func TestCounts(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, `<file name="f%d"><size>1</size></file>`, i)
	}
	if _, err := decodeString(t, v4doc(b.String()), &DecodeOptions{MaxFiles: 10}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "10 <file>") {
		t.Errorf("MaxFiles: err = %v", err)
	}
	b.Reset()
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, `<url>https://m%d.example/x</url>`, i)
	}
	m := mustDecode(t, v4doc(v4file("x", b.String())), &DecodeOptions{MaxURLs: 10})
	if n := len(m.Files[0].URLs); n != 10 || !containsWarning(m, "more than 10 <url>") {
		t.Errorf("MaxURLs: %d urls, warnings %q", n, m.Warnings)
	}
	if DefaultMaxFiles <= 0 || DefaultMaxURLs <= 0 {
		t.Error("defaults must cap")
	}
}

// B1 case 25: URL schemes, relative URLs, userinfo.
func TestURLs(t *testing.T) {
	body := `<url>ftp://a/x</url><url>file:///etc/passwd</url><url>data:,x</url><url>javascript:alert(1)</url>` +
		`<url>gopher://g/x</url><url>rel/x</url><url>http://user:secret@h/x</url><url>  </url><url>http://[::1</url>`
	m := mustDecode(t, v4doc(v4file("x", body)), nil)
	var got []string
	for _, u := range m.Files[0].URLs {
		got = append(got, u.URL)
	}
	want := "ftp://a/x file:///etc/passwd data:,x javascript:alert(1) gopher://g/x http://user:secret@h/x"
	if strings.Join(got, " ") != want {
		t.Errorf("urls = %q, want %q (non-http kept for the fetcher to filter)", got, want)
	}
	for _, w := range []string{"relative URL", "credentials", "empty URL", "unparseable"} {
		if !containsWarning(m, w) {
			t.Errorf("no warning %q in %q", w, m.Warnings)
		}
	}
	for _, w := range m.Warnings {
		if strings.Contains(w, "secret") {
			t.Errorf("warning leaks a password: %q", w)
		}
	}
	m = mustDecode(t, v4doc(v4file("x", `<url>rel/x</url><url>/abs</url><metaurl mediatype="torrent">x.torrent</metaurl>`)), &DecodeOptions{BaseURL: "https://base.example/dir/doc.meta4"})
	f := m.Files[0]
	if f.URLs[0].URL != "https://base.example/dir/rel/x" || f.URLs[1].URL != "https://base.example/abs" || f.MetaURLs[0].URL != "https://base.example/dir/x.torrent" {
		t.Errorf("resolved: %+v %+v", f.URLs, f.MetaURLs)
	}
	if _, err := decodeString(t, v4doc(v4file("x", okBody)), &DecodeOptions{BaseURL: "not/absolute"}); !errors.Is(err, ErrBadValue) {
		t.Errorf("relative base URL: err = %v", err)
	}
}

// B1 case 26: priority / preference out of range.
func TestPriorities(t *testing.T) {
	m := mustDecode(t, v4doc(v4file("x", `<url priority="0">https://a/0</url><url priority="1000000">https://a/1</url>`+
		`<url priority="-1">https://a/2</url><url priority="abc">https://a/3</url><url priority="999999">https://a/4</url>`+
		`<url priority=" 7 " location="DE">https://a/5</url><url location="deu">https://a/6</url>`)), nil)
	var prios []int
	for _, u := range m.Files[0].URLs {
		prios = append(prios, u.Priority)
	}
	if fmt.Sprint(prios) != "[0 0 0 0 999999 7 0]" {
		t.Errorf("priorities = %v", prios)
	}
	if u := m.Files[0].URLs; u[5].Location != "de" || u[6].Location != "" {
		t.Errorf("locations = %q %q", u[5].Location, u[6].Location)
	}
	m = mustDecode(t, v3doc(`<file name="x"><resources maxconnections="-1"><url preference="100">http://a/0</url><url preference="1">http://a/1</url>`+
		`<url preference="200">http://a/2</url><url preference="-5">http://a/3</url><url preference="foobar">http://a/4</url>`+
		`<url type="bittorrent" preference="90">http://a/x.torrent</url><url protocol="rsync">rsync://a/5</url></resources></file>`), nil)
	f := m.Files[0]
	prios = nil
	for _, u := range f.URLs {
		prios = append(prios, u.Priority)
	}
	if fmt.Sprint(prios) != "[1 100 1 100 0 0]" {
		t.Errorf("v3 preference -> priority = %v", prios)
	}
	if f.MaxConnections != 0 || len(f.MetaURLs) != 1 || f.MetaURLs[0].MediaType != "torrent" || f.MetaURLs[0].Priority != 11 {
		t.Errorf("maxconnections %d metaurls %+v", f.MaxConnections, f.MetaURLs)
	}
	if f.URLs[5].Type != "rsync" || f.URLs[0].Type != "http" {
		t.Errorf("types %q %q", f.URLs[5].Type, f.URLs[0].Type)
	}
}

// B1 case 28: no files at all; a file without URLs.
func TestNoFiles(t *testing.T) {
	for _, doc := range []string{v4doc(""), v3doc(""), v4doc(`<generator>x</generator>`)} {
		_, err := decodeString(t, doc, nil)
		if !errors.Is(err, ErrNoFiles) {
			t.Errorf("err = %v, want ErrNoFiles", err)
		}
	}
	m, err := decodeString(t, v4doc(v4file("../x", okBody)), nil)
	if !errors.Is(err, ErrNoFiles) || m == nil || len(m.Refused) != 1 {
		t.Errorf("all refused: err = %v, m = %+v", err, m)
	}
	m = mustDecode(t, v4doc(v4file("x", "<size>1</size>")), nil)
	if !containsWarning(m, "no usable <url>") {
		t.Errorf("no warning for a file without URLs: %q", m.Warnings)
	}
}

// The v4 fields, MirrorBrain's publisher, and the root-level fields.
func TestV4Fields(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink" xmlns:mm0="http://fedorahosted.org/mirrormanager" xml:lang="en">
  <generator> gen/1 </generator>
  <origin dynamic="true">https://o.example/x.meta4</origin>
  <published>2009-05-15T12:23:23+09:30</published>
  <updated>2010-05-01T12:15:02Z</updated>
  <publisher><name>Pub</name><url>https://pub.example/</url></publisher>
  <file name="dir/x.tar.gz" xml:lang="de">
    <identity>x</identity><version>1.0</version><description>d</description><copyright>c</copyright>
    <language>en</language><language>de</language><os>Linux</os><logo>https://l.example/l.png</logo>
    <size>10</size>
    <hash type="sha-256">` + sha256abc + `</hash>
    <pieces length="5" type="sha-1"><hash>` + sha1abc + `</hash><hash>` + sha1abc + `</hash></pieces>
    <signature mediatype="application/pgp-signature">
-----BEGIN PGP SIGNATURE-----
x
-----END PGP SIGNATURE-----
    </signature>
    <url location="us" priority="1" mm0:private="True">https://a.example/x</url>
    <metaurl mediatype="torrent" priority="2" name="x/y">https://a.example/x.torrent</metaurl>
    <mm0:timestamp>123</mm0:timestamp>
  </file>
</metalink>`
	m := mustDecode(t, doc, nil)
	f := m.Files[0]
	if m.Generator != "gen/1" || !m.Dynamic || m.Origin != "https://o.example/x.meta4" || m.Lang != "en" ||
		!m.Published.Equal(time.Date(2009, 5, 15, 2, 53, 23, 0, time.UTC)) || m.Published.Location() != time.UTC {
		t.Errorf("root = %+v", m)
	}
	if f.Lang != "de" || f.Identity != "x" || f.Version != "1.0" || f.Description != "d" || f.Copyright != "c" ||
		fmt.Sprint(f.Languages, f.OSes) != "[en de] [Linux]" || f.Logo == "" || f.MMTimestamp != 123 {
		t.Errorf("file = %+v", f)
	}
	if f.Publisher == nil || f.Publisher.Name != "Pub" || !containsWarning(m, "MirrorBrain") {
		t.Errorf("root publisher not applied: %+v %q", f.Publisher, m.Warnings)
	}
	if s := f.Signatures[0].Value; !strings.HasPrefix(s, "-----BEGIN") || !strings.HasSuffix(s, "-----END PGP SIGNATURE-----") {
		t.Errorf("signature not trimmed: %q", s)
	}
	if u := f.URLs[0]; !u.Private || u.Location != "us" || u.Priority != 1 {
		t.Errorf("url = %+v", u)
	}
	if mu := f.MetaURLs[0]; mu.Name != "x/y" || mu.Priority != 2 {
		t.Errorf("metaurl = %+v", mu)
	}
}

// Unexpected nesting inside an alternate is skipped without losing the rest.
func TestAlternateNesting(t *testing.T) {
	m := mustDecode(t, v3doc(`<file name="x" xmlns:mm0="http://fedorahosted.org/mirrormanager"><mm0:alternates><mm0:alternate>`+
		`<verification><verification><hash type="md5">zz</hash></verification><hash type="md5">`+md5abc+`</hash></verification>`+
		`<size>5</size><x><size>7</size></x></mm0:alternate></mm0:alternates><size>3</size></file>`), nil)
	f := m.Files[0]
	if len(f.Alternates) != 1 || f.Alternates[0].Size != 5 || len(f.Alternates[0].Hashes) != 1 || f.Size != 3 {
		t.Errorf("alternates %+v, size %d", f.Alternates, f.Size)
	}
}

// The v3 fields and MirrorManager's mm0 extensions.
func TestV3MirrorManager(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Tue, 15 Oct 2013 08:48:18 GMT" refreshdate="bogus" generator="mirrormanager" origin="https://o/x.metalink" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <publisher><name>P</name><url>https://p/</url></publisher>
 <license><name>GPL</name><url>https://gpl/</url></license>
 <description>root desc</description>
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1381706941</mm0:timestamp>
   <size>4761</size>
   <verification><hash type="sha256">` + sha256abc + `</hash></verification>
   <mm0:alternates>
    <mm0:alternate><mm0:timestamp>1</mm0:timestamp><size>5</size><verification><hash type="md5">` + md5abc + `</hash></verification></mm0:alternate>
    <mm0:alternate><mm0:timestamp>2</mm0:timestamp><size>6</size><verification><hash type="sha1">bogus</hash></verification></mm0:alternate>
   </mm0:alternates>
   <resources maxconnections="1">
    <url protocol="http" type="http" location="GB" preference="99" mm0:private="True">http://a/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>`
	m := mustDecode(t, doc, nil)
	f := m.Files[0]
	if m.Format != FormatMirrorManager || !m.Dynamic || m.Generator != "mirrormanager" ||
		!m.Published.Equal(time.Date(2013, 10, 15, 8, 48, 18, 0, time.UTC)) || !m.Updated.IsZero() || m.Origin != "https://o/x.metalink" {
		t.Errorf("root = %+v", m)
	}
	if f.MMTimestamp != 1381706941 || len(f.Alternates) != 1 || f.Alternates[0].Size != 5 || f.Alternates[0].Hashes[0].Type != "md5" {
		t.Errorf("mm0 = %d %+v", f.MMTimestamp, f.Alternates)
	}
	if !containsWarning(m, "mm0:alternate #2 dropped") {
		t.Errorf("bad alternate not reported: %q", m.Warnings)
	}
	if u := f.URLs[0]; u.Location != "gb" || u.Priority != 2 || !u.Private || u.Type != "http" || f.MaxConnections != 1 {
		t.Errorf("url = %+v", u)
	}
	if f.Publisher == nil || f.Publisher.Name != "P" || f.License == nil || f.License.Name != "GPL" || f.Description != "root desc" {
		t.Errorf("root defaults: %+v %+v %q", f.Publisher, f.License, f.Description)
	}
}

// TestTestdataFiles checks the hand-written fixtures in testdata (also fuzz seeds).
func TestTestdataFiles(t *testing.T) {
	cases := []struct {
		file     string
		docErr   error    // document-level sentinel, if refused as a whole
		accepted []string // accepted file names
		refused  int
	}{
		{"hostile-names.meta4", nil, []string{"safe/file.bin"}, 10},
		{"hostile-doctype.meta4", ErrForbidden, nil, 0},
		{"hostile-pieces.meta4", nil, []string{"good"}, 7},
		{"mirrorbrain-style.meta4", nil, []string{"app.iso"}, 0},
		{"pieces-indexed.metalink", nil, []string{"app.tar.bz2"}, 0},
	}
	for _, c := range cases {
		m, err := DecodeFile("testdata/"+c.file, nil)
		if c.docErr != nil {
			if !errors.Is(err, c.docErr) || m != nil {
				t.Errorf("%s: err = %v, want %v", c.file, err, c.docErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		var names []string
		for _, f := range m.Files {
			names = append(names, f.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(c.accepted) || len(m.Refused) != c.refused {
			t.Errorf("%s: accepted %q, refused %d %v; want %q and %d", c.file, names, len(m.Refused), m.Refused, c.accepted, c.refused)
		}
	}
	m, _ := DecodeFile("testdata/mirrorbrain-style.meta4", nil)
	if f := m.Files[0]; len(f.URLs) != 2 || f.Publisher == nil || f.Publisher.URL != "https://www.example.org/" || f.Hashes[0].Value != md5abc {
		t.Errorf("mirrorbrain-style: %+v", f)
	}
	m, _ = DecodeFile("testdata/pieces-indexed.metalink", nil)
	if f := m.Files[0]; f.Pieces[0].Hashes[2] != "0000000000000000000000000000000000000002" || f.URLs[1].Priority != 1 || len(f.MetaURLs) != 1 || f.Hashes[1].Value != sha256abc {
		t.Errorf("pieces-indexed: %+v", f)
	}
}
