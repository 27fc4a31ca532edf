package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlinkdev/mlink/metalink"
)

// svSharedDir returns ../shared/<rel> beside the module root, or skips.
func svSharedDir(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not present (%v): this test needs the shared specs beside the module", p, err)
	}
	return p
}

// svJing validates v4 documents against RFC 5854's schema, or skips.
func svJing(t *testing.T, files ...string) {
	t.Helper()
	jing, err := exec.LookPath("jing")
	if err != nil {
		t.Skip("jing not installed (apt-get install jing): RELAX NG validation skipped")
	}
	schema := filepath.Join(svSharedDir(t, "spec"), "metalink4.rnc")
	out, err := exec.Command(jing, append([]string{"-c", schema}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("jing -c metalink4.rnc: %v\n%s", err, out)
	}
}

func TestHandlerMeta4(t *testing.T) {
	data := svContent(3<<20 + 123) // several 1 MiB pieces
	dir := svTree(t, map[string][]byte{"rel/app 1.iso": data, "rel/a:b": []byte("x"), "rel/CON.txt": []byte("x")})
	mirrors := []Mirror{
		{URL: "http://m2.example/pub/", Priority: 20, Location: "US"},
		{URL: "https://m1.example/", Priority: 10, Location: "de"},
	}
	_, ts := svStart(t, dir, HandlerOptions{Mirrors: mirrors})
	sum := sha256.Sum256(data)

	resp, body := svDo(t, ts, "GET", "/rel/app%201.iso.meta4")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/metalink4+xml" {
		t.Fatalf("GET .meta4: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("meta4 validators: ETag %q Cache-Control %q", resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
	}
	m, err := metalink.Decode(bytes.NewReader(body), nil)
	if err != nil {
		t.Fatalf("decoding the served .meta4: %v\n%s", err, body)
	}
	if m.Format != metalink.FormatV4 || len(m.Files) != 1 || len(m.Refused) != 0 {
		t.Fatalf("format %s, %d files, refused %v", m.Format, len(m.Files), m.Refused)
	}
	self := ts.URL + "/rel/app%201.iso"
	if m.Origin != self+".meta4" || !m.Dynamic {
		t.Errorf("origin %q dynamic %v, want %q dynamic", m.Origin, m.Dynamic, self+".meta4")
	}
	f := m.Files[0]
	if f.Name != "app 1.iso" || f.Size != int64(len(data)) {
		t.Errorf("file %q size %d", f.Name, f.Size)
	}
	if h, ok := f.StrongestHash(); !ok || len(f.Hashes) == 0 {
		t.Errorf("no hashes: %+v", f.Hashes)
	} else {
		found := false
		for _, h := range f.Hashes {
			found = found || (h.Type == "sha-256" && h.Value == hex.EncodeToString(sum[:]))
		}
		if !found {
			t.Errorf("sha-256 missing or wrong: %+v (strongest %s)", f.Hashes, h.Type)
		}
	}
	p := f.StrongestPieces()
	if p == nil || p.Count(f.Size) != int64(len(p.Hashes)) || p.Count(f.Size) < 4 {
		t.Errorf("pieces %+v", p)
	} else {
		first := sha256.Sum256(data[:p.Length])
		if p.Type == "sha-256" && p.Hashes[0] != hex.EncodeToString(first[:]) {
			t.Errorf("piece 0 hash %s, want %x", p.Hashes[0], first)
		}
	}
	var urls []string
	for _, u := range f.URLs {
		urls = append(urls, u.URL+" "+u.Location)
	}
	want := []string{"https://m1.example/rel/app%201.iso de", "http://m2.example/pub/rel/app%201.iso us", self + " "}
	if strings.Join(urls, "|") != strings.Join(want, "|") {
		t.Errorf("urls %q, want %q", urls, want)
	}
	if last := f.URLs[len(f.URLs)-1]; last.Priority <= 20 {
		t.Errorf("this server's priority %d, want after the mirrors", last.Priority)
	}

	// RELAX NG validation of what was served.
	p4 := filepath.Join(t.TempDir(), "served.meta4")
	os.WriteFile(p4, body, 0o644)
	t.Run("jing", func(t *testing.T) { svJing(t, p4) })

	// v3.
	resp, body = svDo(t, ts, "GET", "/rel/app%201.iso.metalink")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/metalink+xml" {
		t.Fatalf("GET .metalink: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m3, err := metalink.Decode(bytes.NewReader(body), nil)
	if err != nil || m3.Format != metalink.FormatV3 || len(m3.Files) != 1 || m3.Files[0].Size != int64(len(data)) {
		t.Fatalf("v3 document: %v %+v\n%s", err, m3, body)
	}
	if n := len(m3.Files[0].URLs); n != 3 {
		t.Errorf("v3 lists %d URLs, want 3", n)
	}

	// No metalink for what does not exist or is hidden.
	// Nor for names a metalink client must refuse to save (the file itself is served).
	for _, p := range []string{"/rel/missing.meta4", "/rel.meta4", "/rel/.meta4", "/.meta4", "/rel/a:b.meta4", "/rel/CON.txt.metalink"} {
		if resp, _ := svDo(t, ts, "GET", p); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	// Ranges of a generated document are ignored: it is sent whole.
	if resp, b := svDo(t, ts, "GET", "/rel/app%201.iso.meta4", "Range", "bytes=0-0,5-5,10-10"); resp.StatusCode != 200 || len(b) < 100 {
		t.Errorf("Range on .meta4: %d, %d bytes", resp.StatusCode, len(b))
	}
	if resp, _ := svDo(t, ts, "GET", "/rel/a:b"); resp.StatusCode != 200 {
		t.Errorf("GET /rel/a:b: %d, want 200", resp.StatusCode)
	}
	// HEAD of a metalink.
	if resp, body := svDo(t, ts, "HEAD", "/rel/app%201.iso.meta4"); resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength <= 0 {
		t.Errorf("HEAD .meta4: %d, %d body bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
}

// TestHandlerNegotiate: Accept decides only when Negotiate is on.
func TestHandlerNegotiate(t *testing.T) {
	data := svContent(100)
	dir := svTree(t, map[string][]byte{"f.tar": data})
	accept := "*/*, application/metalink4+xml, application/metalink+xml" // aria2c's
	_, off := svStart(t, dir, HandlerOptions{})
	resp, body := svDo(t, off, "GET", "/f.tar", "Accept", accept)
	if !bytes.Equal(body, data) || resp.Header.Get("Vary") != "" {
		t.Errorf("without Negotiate: got %q (Vary %q), want the file", resp.Header.Get("Content-Type"), resp.Header.Get("Vary"))
	}
	_, on := svStart(t, dir, HandlerOptions{Negotiate: true})
	resp, body = svDo(t, on, "GET", "/f.tar", "Accept", accept)
	if resp.Header.Get("Content-Type") != mediaMeta4 || resp.Header.Get("Vary") != "Accept" || resp.Header.Get("Content-Location") != "f.tar.meta4" {
		t.Errorf("with Negotiate: %q Vary %q Content-Location %q", resp.Header.Get("Content-Type"), resp.Header.Get("Vary"), resp.Header.Get("Content-Location"))
	}
	if _, err := metalink.Decode(bytes.NewReader(body), nil); err != nil {
		t.Errorf("negotiated body: %v", err)
	}
	for _, a := range []string{"", "*/*", "application/metalink4+xml;q=0", "text/html"} {
		resp, body = svDo(t, on, "GET", "/f.tar", "Accept", a)
		if !bytes.Equal(body, data) || resp.Header.Get("Vary") != "Accept" {
			t.Errorf("Accept %q: got %q, want the file with Vary: Accept", a, resp.Header.Get("Content-Type"))
		}
	}
	resp, _ = svDo(t, on, "GET", "/f.tar", "Accept", "application/metalink+xml")
	if resp.Header.Get("Content-Type") != mediaMetalink {
		t.Errorf("Accept v3: %q", resp.Header.Get("Content-Type"))
	}
}
