package metalink

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics; whatever it accepts re-encodes in its own
// format and decodes back to the same document.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*"))
	if dir := filepath.Join(moduleRoot(f), "..", "shared", "testdata", "realworld"); dirExists(dir) {
		more, _ := filepath.Glob(filepath.Join(dir, "*"))
		seeds = append(seeds, more...)
	}
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		v4doc(v4file("a", okBody)),
		v4doc(v4file("a/b", `<size>10</size><pieces length="4" type="sha-256">`+pieceHashes(3, sha256abc)+`</pieces>`)),
		v3doc(`<file name="x"><size>10</size><verification><pieces length="5" type="sha1"><hash piece="1">` + sha1abc + `</hash><hash piece="0">` + sha1abc + `</hash></pieces></verification><resources><url preference="200">http://a/</url></resources></file>`),
		`<!DOCTYPE x [<!ENTITY a "b">]><metalink/>`,
	} {
		f.Add([]byte(s))
	}
	opts := &DecodeOptions{BaseURL: "https://base.example/d/x.meta4", MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data), opts)
		if err != nil {
			if !hasSentinel(err) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			if m == nil || len(m.Files) == 0 {
				return
			}
		}
		if len(m.Files) == 0 {
			t.Fatal("nil error with no files")
		}
		for _, f := range m.Files {
			if err := CheckName(f.Name); err != nil {
				t.Fatalf("accepted unsafe name: %v", err)
			}
		}
		var buf bytes.Buffer
		if err := Encode(&buf, m, m.Format); err != nil {
			t.Fatalf("Encode(%s) of a decoded document: %v", m.Format, err)
		}
		m2, err := Decode(bytes.NewReader(buf.Bytes()), opts)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, buf.String())
		}
		if !docEqual(m, m2) {
			t.Fatalf("round trip changed the document:\n%+v\n%+v\n%s", m, m2, buf.String())
		}
	})
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// largeDoc builds a v4 document with nPieces sha-256 piece hashes and nURLs mirrors.
func largeDoc(nPieces, nURLs int) []byte {
	const length = 1 << 20
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n<file name=\"big.iso\">\n")
	fmt.Fprintf(&b, "<size>%d</size>\n<hash type=\"sha-256\">%s</hash>\n<pieces length=\"%d\" type=\"sha-256\">\n", int64(nPieces)*length, sha256abc, length)
	for i := 0; i < nPieces; i++ {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		b.WriteString("<hash>")
		b.WriteString(hex.EncodeToString(sum[:]))
		b.WriteString("</hash>\n")
	}
	b.WriteString("</pieces>\n")
	for i := 0; i < nURLs; i++ {
		fmt.Fprintf(&b, "<url location=\"%c%c\" priority=\"%d\">https://mirror%d.example.org/pub/big.iso</url>\n", 'a'+i%26, 'a'+i/26%26, i%999999+1, i)
	}
	b.WriteString("</file>\n</metalink>\n")
	return b.Bytes()
}

// BenchmarkDecodeLarge decodes 100 000 sha-256 piece hashes and 1 000 mirrors
// with the default limits. Target: under 0.5 s and 100 MiB allocated per decode.
func BenchmarkDecodeLarge(b *testing.B) {
	doc := largeDoc(100_000, 1_000)
	if len(doc) > DefaultMaxBytes {
		b.Fatalf("document is %d bytes, over the default cap", len(doc))
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := Decode(bytes.NewReader(doc), nil)
		if err != nil {
			b.Fatal(err)
		}
		if p := m.Files[0].Pieces[0]; len(p.Hashes) != 100_000 || len(m.Files[0].URLs) != 1_000 {
			b.Fatalf("%d pieces, %d urls", len(p.Hashes), len(m.Files[0].URLs))
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MiB/op")
}

// TestLargeDocumentDecodes keeps the benchmark's input honest in ordinary test runs.
func TestLargeDocumentDecodes(t *testing.T) {
	doc := largeDoc(2_000, 100)
	m, err := Decode(bytes.NewReader(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Files[0].Pieces[0].Hashes[1], "") || len(m.Files[0].Pieces[0].Hashes) != 2_000 || len(m.Files[0].URLs) != 100 {
		t.Fatalf("large document decoded wrongly")
	}
}
