package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	showSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	showSHA1   = "a9993e364706816aba3e25717850c26c9cd0d89d"
)

// showDocV4 has one good file with three mirrors listed out of priority order.
const showDocV4 = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <generator>test/1</generator>
  <file name="dir/app.tar.gz">
    <size>10</size>
    <hash type="md5">900150983cd24fb0d6963f7d28e17f72</hash>
    <hash type="sha-256">` + showSHA256 + `</hash>
    <pieces length="4" type="sha-1"><hash>` + showSHA1 + `</hash><hash>` + showSHA1 + `</hash><hash>` + showSHA1 + `</hash></pieces>
    <url priority="30" location="us">https://c.example/app.tar.gz</url>
    <url priority="10" location="de">https://a.example/app.tar.gz</url>
    <url>ftp://d.example/app.tar.gz</url>
    <url priority="20">https://b.example/app.tar.gz</url>
  </file>
</metalink>
`

// showDocRefused adds entries that must be refused.
const showDocRefused = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="good"><size>3</size><hash type="sha-256">` + showSHA256 + `</hash><url>https://a.example/good</url></file>
  <file name="../evil"><url>https://a.example/evil</url></file>
  <file name="bad-hash"><hash type="sha-256">abc</hash></file>
</metalink>
`

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShowHuman(t *testing.T) {
	p := writeTemp(t, "app.meta4", showDocV4)
	out, stderr, code := runCLI(t, "show", p)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{"metalink v4", "dir/app.tar.gz", "10 bytes", "sha-256 " + showSHA256 + "  (strongest)",
		"md5 900150983cd24fb0d6963f7d28e17f72  (weak)", "3 pieces of 4 B (4 bytes), sha-1  (weak)", "4, by priority"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Mirrors by priority, unset last, with location.
	a, b, c, d := strings.Index(out, "a.example"), strings.Index(out, "b.example"), strings.Index(out, "c.example"), strings.Index(out, "d.example")
	if !(a < b && b < c && c < d) {
		t.Errorf("mirrors not sorted by priority:\n%s", out)
	}
	if !strings.Contains(out, "10  de  https://a.example/app.tar.gz") {
		t.Errorf("mirror line lacks priority and location:\n%s", out)
	}
}

func TestShowJSON(t *testing.T) {
	p := writeTemp(t, "app.meta4", showDocV4)
	out, _, code := runCLI(t, "show", "--json", p)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var doc showDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Format != "v4" || len(doc.Files) != 1 || len(doc.Refused) != 0 {
		t.Fatalf("doc = %+v", doc)
	}
	f := doc.Files[0]
	if f.Name != "dir/app.tar.gz" || f.Size != 10 || f.StrongestHash != "sha-256" || len(f.Pieces) != 1 || f.Pieces[0].Count != 3 || !f.Pieces[0].Weak {
		t.Errorf("file = %+v", f)
	}
	var urls []string
	for _, m := range f.Mirrors {
		urls = append(urls, m.URL)
	}
	if strings.Join(urls, " ") != "https://a.example/app.tar.gz https://b.example/app.tar.gz https://c.example/app.tar.gz ftp://d.example/app.tar.gz" {
		t.Errorf("mirror order = %v", urls)
	}
	if f.Mirrors[0].Location != "de" || f.Mirrors[0].Priority != 10 {
		t.Errorf("mirror 0 = %+v", f.Mirrors[0])
	}
}

func TestShowStdin(t *testing.T) {
	out, _, code := runCLIContext(t, t.Context(), showDocV4, "show", "-")
	if code != exitOK || !strings.Contains(out, "dir/app.tar.gz") || !strings.Contains(out, "standard input") && !strings.Contains(out, "-") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestShowRefusedEntriesExit3(t *testing.T) {
	p := writeTemp(t, "r.meta4", showDocRefused)
	out, stderr, code := runCLI(t, "show", p)
	if code != exitVerify {
		t.Fatalf("exit %d, want %d", code, exitVerify)
	}
	for _, want := range []string{"refused (2)", `file #2 "../evil": file@name: unsafe name`, `file #3 "bad-hash": hash[sha-256]: malformed hash`, "good"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "2 of 3 file entries refused") {
		t.Errorf("stderr = %q", stderr)
	}
	out, _, code = runCLI(t, "show", "--json", p)
	var doc showDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitVerify {
		t.Fatalf("json: %v, exit %d", err, code)
	}
	if len(doc.Refused) != 2 || doc.Refused[0].Index != 2 || doc.Refused[0].Name != "../evil" || doc.Refused[0].Element != "file@name" {
		t.Errorf("refused = %+v", doc.Refused)
	}
}

func TestShowDocumentRefusedExit3(t *testing.T) {
	for name, doc := range map[string]string{
		"doctype":      `<!DOCTYPE x [<!ENTITY a "b">]>` + showDocV4[strings.Index(showDocV4, "<metalink"):],
		"no namespace": `<metalink><file name="a"/></metalink>`,
		"not xml":      `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a">`,
		"no files":     `<metalink xmlns="urn:ietf:params:xml:ns:metalink"/>`,
		"all refused":  `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="/etc/passwd"/></metalink>`,
	} {
		p := writeTemp(t, "x.meta4", doc)
		out, stderr, code := runCLI(t, "show", p)
		if code != exitVerify {
			t.Errorf("%s: exit %d, want %d (stderr %q)", name, code, exitVerify, stderr)
		}
		if !strings.Contains(stderr, "refused") {
			t.Errorf("%s: stderr does not say refused: %q", name, stderr)
		}
		if name == "all refused" && !strings.Contains(out, `"/etc/passwd"`) {
			t.Errorf("all refused: the refused entry is not shown:\n%s", out)
		}
		out, _, code = runCLI(t, "show", "--json", p)
		var d showDoc
		if err := json.Unmarshal([]byte(out), &d); err != nil || d.Error == "" || code != exitVerify {
			t.Errorf("%s --json: %v, error %q, exit %d", name, err, d.Error, code)
		}
	}
}

func TestShowUnreadable(t *testing.T) {
	_, stderr, code := runCLI(t, "show", filepath.Join(t.TempDir(), "missing.meta4"))
	if code != exitError || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "show", t.TempDir())
	if code != exitError || !strings.Contains(stderr, "is a directory") {
		t.Errorf("directory: exit %d, stderr %q", code, stderr)
	}
	if _, _, code := runCLI(t, "show"); code != exitUsage {
		t.Errorf("no argument: exit %d, want %d", code, exitUsage)
	}
}

// A terminal never receives control characters from the document.
func TestShowCleansControlCharacters(t *testing.T) {
	doc := strings.Replace(showDocV4, "<size>", "<description>evil\u009b31mred\u202e</description><size>", 1)
	out, _, code := runCLI(t, "show", writeTemp(t, "x.meta4", doc))
	if code != exitOK || strings.ContainsAny(out, "\u009b\u202e") || !strings.Contains(out, "evil\uFFFD31mred") {
		t.Errorf("exit %d, output not cleaned:\n%q", code, out)
	}
}

func TestShowCorpusMirrorBrain(t *testing.T) {
	p := filepath.Join("..", "..", "..", "shared", "testdata", "realworld", "libmetalink-LibO_3.5.4_Win_x86_install_multi.msi.meta4")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("corpus not present beside the module (%v)", err)
	}
	out, _, code := runCLI(t, "show", p)
	if code != exitOK || !strings.Contains(out, "808 pieces of 256.0 KiB") || !strings.Contains(out, "76, by priority") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestShowAndConvertHelpHaveExamples(t *testing.T) {
	for _, cmd := range []string{"show", "convert"} {
		out, _, code := runCLI(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "mlink "+cmd) {
			t.Errorf("mlink %s --help: exit %d\n%s", cmd, code, out)
		}
	}
}
