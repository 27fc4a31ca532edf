package metalink

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sample is a document using every field of the model.
func sample() *Metalink {
	other := strings.Repeat("0", 40)
	return &Metalink{
		Format:    FormatV4,
		Generator: "mlink/test",
		Origin:    "https://example.org/sample.meta4",
		Dynamic:   true,
		Published: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Updated:   time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC),
		Lang:      "en",
		Files: []File{{
			Name:        "dir/sample & co's.iso",
			Size:        10,
			Identity:    "Sample",
			Version:     "1.0",
			Description: "A \"sample\"\nwith two lines",
			Copyright:   "© 2024 Example",
			Logo:        "https://example.org/logo.png",
			Languages:   []string{"en", "de"},
			OSes:        []string{"Linux-x86_64"},
			Publisher:   &Publisher{Name: "Example", URL: "https://example.org/"},
			License:     &License{Name: "Apache-2.0", URL: "https://www.apache.org/licenses/LICENSE-2.0"},
			Hashes:      []Hash{{"sha-256", sha256abc}, {"sha-1", sha1abc}, {"md5", md5abc}},
			Pieces:      []Pieces{{Length: 4, Type: "sha-1", Hashes: []string{sha1abc, other, sha1abc}}},
			Signatures:  []Signature{{MediaType: "application/pgp-signature", File: "sample.iso.asc", Value: "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----"}},
			URLs: []URL{
				{URL: "https://m1.example/sample.iso?a=1&b=2", Priority: 1, Location: "de", Type: "https", MaxConnections: 2},
				{URL: "http://m2.example/sample.iso", Priority: 2, Location: "us", Type: "http", Private: true},
				{URL: "ftp://m3.example/sample.iso", Type: "ftp"},
			},
			MetaURLs:       []MetaURL{{URL: "https://example.org/sample.torrent", MediaType: "torrent", Priority: 3}},
			MaxConnections: 4,
			Lang:           "en-GB",
			MMTimestamp:    1700000000,
			Alternates:     []Alternate{{Timestamp: 1690000000, Size: 9, Hashes: []Hash{{"sha-256", strings.Repeat("1", 64)}}}},
		}, {
			Name: "second",
			Size: -1,
			URLs: []URL{{URL: "https://m1.example/second", Type: "https"}},
		}},
	}
}

// carried returns what format f keeps of m: the expected result of a round trip.
func carried(m *Metalink, f Format) *Metalink {
	c := *m
	c.Files = nil
	for _, file := range m.Files {
		file.URLs = append([]URL(nil), file.URLs...)
		file.MetaURLs = append([]MetaURL(nil), file.MetaURLs...)
		file.Signatures = append([]Signature(nil), file.Signatures...)
		if f == FormatV4 {
			file.License = nil
			file.MaxConnections = 0
			for i := range file.URLs {
				file.URLs[i].Type, file.URLs[i].MaxConnections = "", 0
			}
			for i := range file.Signatures {
				file.Signatures[i].File = ""
			}
		} else {
			for i := range file.MetaURLs {
				file.MetaURLs[i].Name = ""
			}
			if len(file.URLs) == 0 {
				file.URLs = nil
			}
		}
		c.Files = append(c.Files, file)
	}
	return &c
}

// plainSample is sample without MirrorManager data: plain Metalink 3.0 output.
func plainSample() *Metalink {
	m := sample()
	for i := range m.Files {
		f := &m.Files[i]
		f.MMTimestamp, f.Alternates = 0, nil
		for j := range f.URLs {
			f.URLs[j].Private = false
		}
	}
	return m
}

func TestGoldenPlainV3(t *testing.T) {
	m := plainSample()
	var buf bytes.Buffer
	if err := Encode(&buf, m, FormatV3); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "sample.plain.metalink")
	if *update {
		os.WriteFile(path, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Encode(v3) differs from %s:\n%s", path, buf.String())
	}
	if bytes.Contains(want, []byte("mm0")) {
		t.Error("plain v3 output mentions mm0")
	}
	got, err := Decode(bytes.NewReader(want), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != FormatV3 || !docEqual(got, carried(m, FormatV3)) {
		t.Errorf("format %s, decoded %+v", got.Format, got.Files)
	}
}

var goldens = map[Format]string{
	FormatV4:            "sample.meta4",
	FormatV3:            "sample.v3.metalink",
	FormatMirrorManager: "sample.mm.metalink",
}

// TestGolden encodes the sample in every format and compares with the golden
// files (go test -run TestGolden -update rewrites them), then decodes each one
// back to the same model.
func TestGolden(t *testing.T) {
	m := sample()
	for f, name := range goldens {
		var buf bytes.Buffer
		if err := Encode(&buf, m, f); err != nil {
			t.Fatalf("Encode(%s): %v", f, err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("Encode(%s) differs from %s (run with -update after checking):\n%s", f, path, buf.String())
		}
		got, err := Decode(bytes.NewReader(want), nil)
		if err != nil {
			t.Fatalf("decoding %s: %v", path, err)
		}
		exp := carried(m, f)
		if f == FormatV3 && usesMM(m) {
			f = FormatMirrorManager // a v3 document declaring mm0 is MirrorManager's dialect
		}
		if got.Format != f {
			t.Errorf("%s decoded as format %s", name, got.Format)
		}
		if !docEqual(got, exp) {
			t.Errorf("%s decodes to\n%+v\nwant\n%+v", name, got.Files, exp.Files)
		}
		if len(got.Warnings) != 0 {
			t.Errorf("%s: warnings on our own output: %q", name, got.Warnings)
		}
	}
	jingValidate(t, filepath.Join("testdata", goldens[FormatV4]))
}

func TestEncodeShape(t *testing.T) {
	var v4, v3, mm bytes.Buffer
	m := sample()
	for f, b := range map[Format]*bytes.Buffer{FormatV4: &v4, FormatV3: &v3, FormatMirrorManager: &mm} {
		if err := Encode(b, m, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`<metalink xmlns="urn:ietf:params:xml:ns:metalink" xmlns:mm0="http://fedorahosted.org/mirrormanager" xml:lang="en">`,
		`<published>2024-01-02T03:04:05Z</published>`, `<publisher name="Example" url="https://example.org/"/>`,
		`<url location="de" priority="1">https://m1.example/sample.iso?a=1&amp;b=2</url>`,
		`<origin dynamic="true">`, `<hash type="sha-256">` + sha256abc + `</hash>`, `<pieces length="4" type="sha-1">`,
	} {
		if !strings.Contains(v4.String(), want) {
			t.Errorf("v4 output lacks %s", want)
		}
	}
	for _, want := range []string{
		`xmlns:mm0="http://fedorahosted.org/mirrormanager"`, `<resources maxconnections="4">`,
		`<url protocol="http" type="http" location="US" preference="99" mm0:private="True">`,
		`<hash type="sha256">`, `<mm0:timestamp>1700000000</mm0:timestamp>`, `pubdate="Tue, 02 Jan 2024 03:04:05 GMT"`,
		`<url protocol="bittorrent" type="bittorrent" preference="98">`,
	} {
		if !strings.Contains(mm.String(), want) {
			t.Errorf("MirrorManager output lacks %s", want)
		}
	}
	if !strings.Contains(v3.String(), `<url type="https" location="de" preference="100" maxconnections="2">`) {
		t.Errorf("v3 url shape:\n%s", v3.String())
	}
	// Upper-case locations in a model are written in the format's case.
	up := sample()
	up.Files[0].URLs[0].Location = "DE"
	var b bytes.Buffer
	if err := Encode(&b, up, FormatV4); err != nil || !strings.Contains(b.String(), `location="de"`) {
		t.Errorf("upper-case location: %v", err)
	}
	// Priority p maps to preference clamp(101-p, 1..100).
	for p, want := range map[int]string{1: "100", 2: "99", 100: "1", 500: "1", 0: ""} {
		if got := v3Preference(p); got != want {
			t.Errorf("v3Preference(%d) = %q, want %q", p, got, want)
		}
	}
}

func TestEncodeRefusesInvalidModels(t *testing.T) {
	for name, mod := range map[string]func(m *Metalink){
		"no files":        func(m *Metalink) { m.Files = nil },
		"unsafe name":     func(m *Metalink) { m.Files[0].Name = "../x" },
		"duplicate name":  func(m *Metalink) { m.Files[1].Name = m.Files[0].Name },
		"bad hash":        func(m *Metalink) { m.Files[0].Hashes[0].Value = "abc" },
		"upper hash":      func(m *Metalink) { m.Files[0].Hashes[0].Value = strings.ToUpper(sha256abc) },
		"piece count":     func(m *Metalink) { m.Files[0].Pieces[0].Length = 100 },
		"priority":        func(m *Metalink) { m.Files[0].URLs[0].Priority = 1000000 },
		"location":        func(m *Metalink) { m.Files[0].URLs[0].Location = "deu" },
		"location digits": func(m *Metalink) { m.Files[0].URLs[0].Location = "d1" },
		"control char":    func(m *Metalink) { m.Files[0].Description = "a\x01b" },
		"no mediatype":    func(m *Metalink) { m.Files[0].MetaURLs[0].MediaType = "" },
		"bad lang":        func(m *Metalink) { m.Lang = "en_US" },
		"negative size":   func(m *Metalink) { m.Files[0].Size = -2 },
		"metaurl name":    func(m *Metalink) { m.Files[0].MetaURLs[0].Name = "/abs" },
		"url with spaces": func(m *Metalink) { m.Files[0].URLs[0].URL = " https://x/ " },
	} {
		m := sample()
		mod(m)
		var buf bytes.Buffer
		err := Encode(&buf, m, FormatV4)
		if err == nil || !hasSentinel(err) {
			t.Errorf("%s: Encode = %v, want a sentinel error", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", name, buf.Len())
		}
	}
	if err := Encode(&bytes.Buffer{}, sample(), "v5"); err == nil {
		t.Error("unknown format accepted")
	}
}

// TestConvertCorpusV3ToV4 checks conversions keep what both formats carry.
func TestConvertV3ToV4(t *testing.T) {
	m := mustDecode(t, v3doc(`<file name="x"><size>3</size><verification><hash type="sha256">`+sha256abc+`</hash></verification>`+
		`<resources><url type="http" location="us" preference="100">http://a/x</url><url type="bittorrent" preference="50">http://a/x.torrent</url></resources></file>`), nil)
	var buf bytes.Buffer
	if err := Encode(&buf, m, FormatV4); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`<url location="us" priority="1">http://a/x</url>`, `<metaurl mediatype="torrent" priority="51">http://a/x.torrent</metaurl>`} {
		if !strings.Contains(out, want) {
			t.Errorf("v4 conversion lacks %s:\n%s", want, out)
		}
	}
	p := filepath.Join(t.TempDir(), "c.meta4")
	os.WriteFile(p, buf.Bytes(), 0o644)
	jingValidate(t, p)
}

func TestEncodeErrorsNameSentinels(t *testing.T) {
	m := sample()
	m.Files[0].Hashes[0].Value = "zz"
	err := Encode(&bytes.Buffer{}, m, FormatV3)
	if !errors.Is(err, ErrBadHash) || !strings.Contains(err.Error(), "file #1") {
		t.Errorf("err = %v", err)
	}
}
