package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlinkdev/mlink/metalink"
)

const convertDocV3 = `<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" generator="test">
  <files>
    <file name="app.iso">
      <size>10</size>
      <verification>
        <hash type="sha256">` + showSHA256 + `</hash>
        <pieces length="4" type="sha1"><hash piece="0">` + showSHA1 + `</hash><hash piece="1">` + showSHA1 + `</hash><hash piece="2">` + showSHA1 + `</hash></pieces>
      </verification>
      <resources maxconnections="2">
        <url type="http" location="US" preference="100">http://a.example/app.iso</url>
        <url type="ftp" preference="90">ftp://b.example/app.iso</url>
        <url type="bittorrent" preference="50">http://a.example/app.iso.torrent</url>
      </resources>
    </file>
  </files>
</metalink>
`

func decodeBytes(t *testing.T, b string) *metalink.Metalink {
	t.Helper()
	m, err := metalink.Decode(strings.NewReader(b), nil)
	if err != nil {
		t.Fatalf("output does not decode: %v\n%s", err, b)
	}
	return m
}

func TestConvertV3ToV4Stdout(t *testing.T) {
	in := writeTemp(t, "app.metalink", convertDocV3)
	out, stderr, code := runCLI(t, "convert", in, "--to", "v4")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m := decodeBytes(t, out)
	f := m.Files[0]
	if m.Format != metalink.FormatV4 || f.Size != 10 || len(f.Pieces[0].Hashes) != 3 || len(f.URLs) != 2 || len(f.MetaURLs) != 1 {
		t.Fatalf("converted = %+v", m)
	}
	if f.URLs[0].Priority != 1 || f.URLs[0].Location != "us" || f.URLs[1].Priority != 11 || f.MetaURLs[0].MediaType != "torrent" {
		t.Errorf("priorities/locations: %+v %+v", f.URLs, f.MetaURLs)
	}
	if jing, err := exec.LookPath("jing"); err == nil {
		p := writeTemp(t, "out.meta4", out)
		schema := filepath.Join("..", "..", "..", "shared", "spec", "metalink4.rnc")
		if _, err := os.Stat(schema); err == nil {
			if b, err := exec.Command(jing, "-c", schema, p).CombinedOutput(); err != nil {
				t.Errorf("jing: %v\n%s", err, b)
			}
		}
	} else {
		t.Log("jing not installed: schema validation skipped")
	}
}

func TestConvertFormats(t *testing.T) {
	in := writeTemp(t, "app.meta4", showDocV4)
	for _, to := range []string{"v3", "mirrormanager", "v4"} {
		out, stderr, code := runCLI(t, "convert", in, "--to", to)
		if code != exitOK {
			t.Fatalf("--to %s: exit %d: %s", to, code, stderr)
		}
		m := decodeBytes(t, out)
		if len(m.Files) != 1 || len(m.Files[0].URLs) != 4 || m.Files[0].Pieces[0].Type != "sha-1" {
			t.Errorf("--to %s: %+v", to, m.Files)
		}
		if to == "mirrormanager" && (!strings.Contains(out, `xmlns:mm0="http://fedorahosted.org/mirrormanager"`) || !strings.Contains(out, `protocol="https" type="https" location="DE" preference="91"`)) {
			t.Errorf("mirrormanager dialect:\n%s", out)
		}
	}
}

func TestConvertOutputFile(t *testing.T) {
	in := writeTemp(t, "app.metalink", convertDocV3)
	dir := t.TempDir()
	outPath := filepath.Join(dir, "app.meta4")
	if _, stderr, code := runCLI(t, "convert", in, "--to", "v4", "-o", outPath); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	first, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	decodeBytes(t, string(first))
	// An existing file is refused without --force and left unchanged.
	if _, stderr, code := runCLI(t, "convert", in, "--to", "v3", "-o", outPath); code != exitError || !strings.Contains(stderr, "already exists") {
		t.Errorf("existing output: exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(outPath); string(b) != string(first) {
		t.Error("existing output changed without --force")
	}
	if _, stderr, code := runCLI(t, "convert", in, "--to", "v3", "-o", outPath, "--force"); code != exitOK {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if m := decodeBytes(t, mustRead(t, outPath)); m.Format == metalink.FormatV4 {
		t.Error("--force did not replace the file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	if st, _ := os.Stat(outPath); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConvertRefusesAndWritesNothing(t *testing.T) {
	in := writeTemp(t, "r.meta4", showDocRefused)
	outPath := filepath.Join(t.TempDir(), "out.meta4")
	stdout, stderr, code := runCLI(t, "convert", in, "--to", "v3", "-o", outPath)
	if code != exitVerify || !strings.Contains(stderr, `refused: file #2 "../evil"`) || !strings.Contains(stderr, "nothing converted") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(outPath); !os.IsNotExist(err) {
		t.Errorf("output written despite refusal: %v", err)
	}
	if stdout != "" {
		t.Errorf("stdout = %q", stdout)
	}
	bad := writeTemp(t, "bad.meta4", `<!DOCTYPE metalink><metalink xmlns="urn:ietf:params:xml:ns:metalink"/>`)
	if _, _, code := runCLI(t, "convert", bad, "--to", "v4"); code != exitVerify {
		t.Errorf("DOCTYPE: exit %d, want %d", code, exitVerify)
	}
}

func TestConvertUsage(t *testing.T) {
	in := writeTemp(t, "app.meta4", showDocV4)
	for _, args := range [][]string{{"convert", in}, {"convert", in, "--to", "v5"}, {"convert", "--to", "v4"}} {
		if _, stderr, code := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
	if _, stderr, code := runCLI(t, "convert", t.TempDir(), "--to", "v4"); code != exitError || !strings.Contains(stderr, "is a directory") {
		t.Errorf("directory: exit %d, %q", code, stderr)
	}
}

func TestConvertStdin(t *testing.T) {
	out, stderr, code := runCLIContext(t, t.Context(), convertDocV3, "convert", "-", "--to", "v4")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	decodeBytes(t, out)
}

// aria2c, the reference Metalink client, reads every format convert writes.
func TestConvertOutputReadByAria2c(t *testing.T) {
	aria2c, err := exec.LookPath("aria2c")
	if err != nil {
		t.Skip("aria2c not installed (apt-get install aria2): interop check skipped")
	}
	in := writeTemp(t, "app.metalink", convertDocV3)
	for _, to := range []string{"v4", "v3", "mirrormanager"} {
		out, _, code := runCLI(t, "convert", in, "--to", to)
		if code != exitOK {
			t.Fatalf("--to %s: exit %d", to, code)
		}
		p := writeTemp(t, "out."+to, out)
		cmd := exec.Command(aria2c, "--show-files", "--metalink-file="+p)
		cmd.Dir = t.TempDir()
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "app.iso") || !strings.Contains(string(b), "10B (10)") {
			t.Errorf("aria2c --show-files on --to %s output: %v\n%s", to, err, b)
		}
	}
}
