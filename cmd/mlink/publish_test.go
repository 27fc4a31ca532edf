package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/publish"
)

// publishTree writes a small release tree with awkward names and old mtimes.
func publishTree(t *testing.T) (dir string, files map[string][]byte) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "release")
	files = map[string][]byte{
		"app 1.0.tar.gz":           publishRand(300_000, 1),
		"docs/ünïcödé notes.txt":   publishRand(5_000, 2),
		"docs/100% #1 (final).bin": publishRand(70_000, 3),
		"app 1.0.tar.gz.asc":       []byte("-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"),
	}
	old := time.Now().Add(-time.Hour)
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	return dir, files
}

func publishRand(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func publishSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// publishDecode decodes a written metalink and fails the test on refused entries.
func publishDecode(t *testing.T, path string) *metalink.Metalink {
	t.Helper()
	m, err := metalink.DecodeFile(path, nil)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if len(m.Refused) != 0 {
		t.Fatalf("decode %s: refused entries %v", path, m.Refused)
	}
	return m
}

// publishSpec finds ../shared/spec/metalink4.rnc beside the module, or skips.
func publishSpec(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the test directory; cannot locate ../shared/spec")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "spec", "metalink4.rnc")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("RELAX NG schema %s not present: %v", p, err)
	}
	return p
}

func TestPublishTreeDecodesBack(t *testing.T) {
	dir, files := publishTree(t)
	out := filepath.Join(t.TempDir(), "release.meta4")
	cache := filepath.Join(t.TempDir(), "c.db")
	_, stderr, code := runCLI(t, "publish", "-o", out, "--cache", cache,
		"--mirror", "https://eu.example/pub/,priority=1,location=DE", "--mirror", "http://us.example/r",
		"--origin", "https://www.example/release.meta4", "--dynamic", "--publisher", "Example, Inc.,https://example.org/",
		"--version", "1.0", "--description", "an app", "--copyright", "(c) 2024", "--identity", "app",
		"--language", "en", "--os", "linux", "--hash", "sha-256,sha-512", "--piece-size", "64K", dir)
	if code != 0 {
		t.Fatalf("publish exited %d: %s", code, stderr)
	}
	m := publishDecode(t, out)
	if m.Origin != "https://www.example/release.meta4" || !m.Dynamic || !strings.HasPrefix(m.Generator, "mlink/") || m.Published.IsZero() {
		t.Errorf("header: origin %q dynamic %v generator %q published %v", m.Origin, m.Dynamic, m.Generator, m.Published)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
		data := files[f.Name]
		if f.Size != int64(len(data)) {
			t.Errorf("%s: size %d, want %d", f.Name, f.Size, len(data))
		}
		h, _ := f.StrongestHash()
		if h.Type != "sha-512" {
			t.Errorf("%s: strongest hash %s, want sha-512", f.Name, h.Type)
		}
		for _, hh := range f.Hashes {
			if hh.Type == "sha-256" && hh.Value != publishSHA(data) {
				t.Errorf("%s: sha-256 %s, want %s", f.Name, hh.Value, publishSHA(data))
			}
		}
		if p := f.StrongestPieces(); p == nil || p.Length != 64<<10 || int64(len(p.Hashes)) != p.Count(f.Size) {
			t.Errorf("%s: pieces %+v", f.Name, p)
		}
		if len(f.URLs) != 2 || f.URLs[0].Priority != 1 || f.URLs[0].Location != "de" {
			t.Errorf("%s: URLs %+v", f.Name, f.URLs)
		}
		if f.Publisher == nil || f.Publisher.Name != "Example, Inc." || f.Publisher.URL != "https://example.org/" || f.Version != "1.0" {
			t.Errorf("%s: publisher %+v version %q", f.Name, f.Publisher, f.Version)
		}
		if (f.Name == "app 1.0.tar.gz") != (len(f.Signatures) == 1) {
			t.Errorf("%s: signatures %+v", f.Name, f.Signatures)
		}
	}
	slices.Sort(names)
	if want := []string{"app 1.0.tar.gz", "docs/100% #1 (final).bin", "docs/ünïcödé notes.txt"}; !slices.Equal(names, want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	for _, f := range m.Files {
		if f.Name == "docs/100% #1 (final).bin" && f.URLs[0].URL != "https://eu.example/pub/docs/100%25%20%231%20%28final%29.bin" {
			t.Errorf("escaped URL %q", f.URLs[0].URL)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("output directory holds %d entries, want only the metalink (no temp files)", len(ents))
	}
}

func TestPublishJSONSummaryAndCache(t *testing.T) {
	dir, _ := publishTree(t)
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "c.db")
	var sums []publishSummary
	for i := range 2 {
		out := filepath.Join(tmp, "r"+string(rune('0'+i))+".meta4")
		stdout, stderr, code := runCLI(t, "publish", "--json", "-o", out, "--cache", cache, dir)
		if code != 0 {
			t.Fatalf("run %d exited %d: %s", i, code, stderr)
		}
		var s publishSummary
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			t.Fatalf("run %d: --json output %q: %v", i, stdout, err)
		}
		sums = append(sums, s)
	}
	if sums[0].Files != 3 || sums[0].Hashed != 3 || sums[0].Cached != 0 {
		t.Errorf("first run summary %+v, want 3 files all hashed", sums[0])
	}
	if sums[1].Files != 3 || sums[1].Hashed != 0 || sums[1].Cached != 3 || sums[1].HashedBytes != 0 {
		t.Errorf("second run summary %+v, want 3 files all from the cache", sums[1])
	}
	a, _ := os.ReadFile(sums[0].Outputs[0])
	b, _ := os.ReadFile(sums[1].Outputs[0])
	ma, mb := publishDecode(t, sums[0].Outputs[0]), publishDecode(t, sums[1].Outputs[0])
	for i := range ma.Files {
		if !slices.Equal(ma.Files[i].Hashes, mb.Files[i].Hashes) || !slices.Equal(ma.Files[i].Pieces[0].Hashes, mb.Files[i].Pieces[0].Hashes) {
			t.Errorf("cached run differs for %s", ma.Files[i].Name)
		}
	}
	if len(a) == 0 || len(b) == 0 {
		t.Fatal("empty output")
	}
}

func TestPublishReproducibleWithSourceDateEpoch(t *testing.T) {
	dir, _ := publishTree(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var outs [][]byte
	for range 2 {
		stdout, stderr, code := runCLI(t, "publish", "--no-cache", dir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		outs = append(outs, []byte(stdout))
		time.Sleep(1100 * time.Millisecond) // a wall-clock date would now differ
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatalf("two runs with SOURCE_DATE_EPOCH differ:\n%s\n---\n%s", outs[0], outs[1])
	}
	if !bytes.Contains(outs[0], []byte("<published>2023-11-14T22:13:20Z</published>")) {
		t.Errorf("published date is not SOURCE_DATE_EPOCH:\n%s", outs[0])
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, stderr, code := runCLI(t, "publish", "--no-cache", dir); code != exitUsage || !strings.Contains(stderr, "SOURCE_DATE_EPOCH") {
		t.Errorf("bad SOURCE_DATE_EPOCH: exit %d, %s", code, stderr)
	}
}

func TestPublishOutputRefusedWithoutForce(t *testing.T) {
	dir, _ := publishTree(t)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "r.meta4")
	os.WriteFile(out, []byte("precious"), 0o644)
	_, stderr, code := runCLI(t, "publish", "--no-cache", "-o", out, dir)
	if code != exitError || !strings.Contains(stderr, "already exists") || !strings.Contains(stderr, "--force") {
		t.Fatalf("existing output: exit %d, %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Fatalf("existing output changed to %q", b)
	}
	if _, stderr, code = runCLI(t, "publish", "--no-cache", "--force", "-o", out, dir); code != 0 {
		t.Fatalf("--force: exit %d, %s", code, stderr)
	}
	publishDecode(t, out)
	if ents, _ := os.ReadDir(outDir); len(ents) != 1 {
		t.Errorf("output directory holds %d entries, want 1", len(ents))
	}
}

func TestPublishEach(t *testing.T) {
	dir, files := publishTree(t)
	_, stderr, code := runCLI(t, "publish", "--no-cache", "--each", "--mirror", "https://m.example/pub/", "--origin", "https://o.example/pub/", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for name, data := range files {
		if strings.HasSuffix(name, ".asc") {
			continue
		}
		m := publishDecode(t, filepath.Join(dir, filepath.FromSlash(name))+".meta4")
		f := m.Files[0]
		if len(m.Files) != 1 || f.Name != filepath.Base(filepath.FromSlash(name)) || f.Size != int64(len(data)) {
			t.Errorf("%s.meta4: files %+v", name, m.Files)
		}
		if !strings.HasPrefix(m.Origin, "https://o.example/pub/") || !strings.HasSuffix(m.Origin, ".meta4") {
			t.Errorf("%s.meta4: origin %q", name, m.Origin)
		}
	}
	// A second --each run refuses to replace them, before writing anything.
	if _, stderr, code = runCLI(t, "publish", "--no-cache", "--each", dir); code != exitError || !strings.Contains(stderr, "already exists") {
		t.Errorf("second --each run: exit %d, %s", code, stderr)
	}
}

func TestPublishBadInput(t *testing.T) {
	dir, _ := publishTree(t)
	tmp := t.TempDir()
	mirrors := filepath.Join(tmp, "mirrors.txt")
	fifo := filepath.Join(tmp, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	esc := filepath.Join(tmp, "esc")
	os.Mkdir(esc, 0o755)
	os.WriteFile(filepath.Join(esc, "ok"), []byte("x"), 0o644)
	os.Symlink("/etc/hostname", filepath.Join(esc, "leak"))
	os.MkdirAll(filepath.Join(tmp, "other"), 0o755)
	os.WriteFile(filepath.Join(tmp, "other", "app 1.0.tar.gz"), []byte("clash"), 0o644)
	out := filepath.Join(tmp, "out.meta4")
	for _, c := range []struct {
		name     string
		mirrors  string
		args     []string
		code     int
		contains string
	}{
		{"mirrors file bad URL", "https://ok.example/\nnot-a-url\n", []string{"--mirrors", mirrors, dir}, exitError, "line 2"},
		{"mirrors file scheme", "# x\nftp://m.example/pub/\n", []string{"--mirrors", mirrors, dir}, exitError, "line 2"},
		{"mirrors file priority", "https://m.example/ priority=0\n", []string{"--mirrors", mirrors, dir}, exitError, "priority"},
		{"mirrors file location", "https://m.example/ location=germany\n", []string{"--mirrors", mirrors, dir}, exitError, "location"},
		{"mirror flag scheme", "", []string{"--mirror", "file:///srv", dir}, exitUsage, "scheme"},
		{"fifo", "", []string{fifo}, exitError, "not a regular file"},
		{"device", "", []string{"/dev/null"}, exitError, "character device"},
		{"symlink leaving the root", "", []string{esc}, exitError, "leaves the published root"},
		{"same name twice", "", []string{dir, filepath.Join(tmp, "other")}, exitError, "same name"},
		{"missing", "", []string{filepath.Join(tmp, "nope")}, exitError, "nope"},
		{"bad hash", "", []string{"--hash", "sha3-999", dir}, exitUsage, "sha3-999"},
		{"bad piece size", "", []string{"--piece-size", "12parsecs", dir}, exitUsage, "piece-size"},
		{"tiny piece size", "", []string{"--piece-size", "10", dir}, exitUsage, "piece-size"},
		{"bad format", "", []string{"--format", "v5", dir}, exitUsage, "format"},
		{"each and output", "", []string{"--each", "-o", out, dir}, exitUsage, "--each"},
		{"json to stdout", "", []string{"--json", dir}, exitUsage, "--json"},
		{"dynamic without origin", "", []string{"--dynamic", dir}, exitUsage, "--origin"},
		{"bad signature mode", "", []string{"--signature", "maybe", dir}, exitUsage, "signature"},
		{"output is a device", "", []string{"--force", "-o", "/dev/null", dir}, exitError, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.mirrors != "" {
				os.WriteFile(mirrors, []byte(c.mirrors), 0o644)
			}
			args := append([]string{"publish", "--no-cache", "-o", out}, c.args...)
			if slices.Contains(c.args, "--each") || slices.Contains(c.args, "--json") {
				args = append([]string{"publish", "--no-cache"}, c.args...)
			}
			_, stderr, code := runCLI(t, args...)
			if code != c.code || !strings.Contains(stderr, c.contains) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, c.code, c.contains)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("an output file was written despite the error")
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 5 {
				t.Fatalf("stray files left in %s: %v", tmp, ents)
			}
		})
	}
}

func TestParsePieceSize(t *testing.T) {
	for in, want := range map[string]int64{"auto": 0, "AUTO": 0, "1024": 1024, "256K": 256 << 10, "4MiB": 4 << 20, "1m": 1 << 20, "1GiB": 1 << 30, "64 KiB": 64 << 10} {
		if got, err := parsePieceSize(in); err != nil || got != want {
			t.Errorf("parsePieceSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1M", "1023", "2G", "1.5M", "9223372036854775807G", "M"} {
		if _, err := parsePieceSize(in); err == nil {
			t.Errorf("parsePieceSize(%q) accepted", in)
		}
	}
}

func TestPublishV3AndMirrorManagerDecodeBack(t *testing.T) {
	dir, _ := publishTree(t)
	tmp := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	common := []string{"publish", "--no-cache", "--mirror", "https://eu.example/pub/,priority=1,location=de",
		"--mirror", "http://us.example/r,priority=2", "--origin", "https://www.example/r.meta4",
		"--publisher", "Example,https://example.org/", "--version", "2.0", "--description", "d", "--hash", "sha-256,sha-1", dir}
	decoded := map[string]*metalink.Metalink{}
	for _, f := range []string{"v4", "v3", "mirrormanager"} {
		out := filepath.Join(tmp, f+".metalink")
		if _, stderr, code := runCLI(t, append(common, "--format", f, "-o", out)...); code != 0 {
			t.Fatalf("--format %s: exit %d: %s", f, code, stderr)
		}
		decoded[f] = publishDecode(t, out)
		if want := map[string]metalink.Format{"v4": metalink.FormatV4, "v3": metalink.FormatV3, "mirrormanager": metalink.FormatV3}[f]; decoded[f].Format != want && !(f == "mirrormanager" && decoded[f].Format == metalink.FormatMirrorManager) {
			t.Errorf("--format %s decoded as %q", f, decoded[f].Format)
		}
	}
	v4 := decoded["v4"]
	for _, f := range []string{"v3", "mirrormanager"} {
		m := decoded[f]
		if m.Origin != v4.Origin || !m.Published.Equal(v4.Published) || m.Generator != v4.Generator {
			t.Errorf("%s header differs: origin %q/%q published %v/%v generator %q/%q", f, m.Origin, v4.Origin, m.Published, v4.Published, m.Generator, v4.Generator)
		}
		if len(m.Files) != len(v4.Files) {
			t.Fatalf("%s: %d files, want %d", f, len(m.Files), len(v4.Files))
		}
		for i, want := range v4.Files {
			got := m.Files[i]
			if got.Name != want.Name || got.Size != want.Size || !slices.Equal(got.Hashes, want.Hashes) {
				t.Errorf("%s file %d: %q %d %+v, want %q %d %+v", f, i, got.Name, got.Size, got.Hashes, want.Name, want.Size, want.Hashes)
			}
			if len(got.Pieces) != 1 || got.Pieces[0].Length != want.Pieces[0].Length || got.Pieces[0].Type != want.Pieces[0].Type || !slices.Equal(got.Pieces[0].Hashes, want.Pieces[0].Hashes) {
				t.Errorf("%s file %s: pieces differ", f, got.Name)
			}
			if len(got.URLs) != len(want.URLs) {
				t.Fatalf("%s file %s: URLs %+v, want %+v", f, got.Name, got.URLs, want.URLs)
			}
			for j := range want.URLs {
				g, w := got.URLs[j], want.URLs[j]
				if g.URL != w.URL || g.Priority != w.Priority || g.Location != w.Location {
					t.Errorf("%s file %s url %d: %+v, want %+v", f, got.Name, j, g, w)
				}
			}
			if got.Version != want.Version || got.Description != want.Description || (got.Publisher == nil) != (want.Publisher == nil) ||
				(got.Publisher != nil && *got.Publisher != *want.Publisher) || len(got.Signatures) != len(want.Signatures) {
				t.Errorf("%s file %s: descriptive fields differ: %+v vs %+v", f, got.Name, got, want)
			}
			if f == "mirrormanager" && got.MMTimestamp == 0 {
				t.Errorf("mirrormanager file %s has no mm0:timestamp", got.Name)
			}
		}
	}
}

func TestPublishValidatesWithJing(t *testing.T) {
	jing, err := exec.LookPath("jing")
	if err != nil {
		t.Skip("jing not installed (CI installs it): cannot validate against metalink4.rnc")
	}
	schema := publishSpec(t)
	dir, _ := publishTree(t)
	tmp := t.TempDir()
	var outs []string
	for i, args := range [][]string{
		{dir},
		{"--mirror", "https://eu.example/pub/,priority=1,location=de", "--mirror", "http://us.example/r", "--origin", "https://www.example/r.meta4", "--dynamic",
			"--publisher", "Example,https://example.org/", "--identity", "app", "--version", "1.0", "--description", "desc", "--copyright", "(c) us",
			"--language", "en", "--language", "de", "--os", "linux-x86_64", "--hash", "sha-512,sha-256,sha-1,md5", "--piece-hash", "sha-1", "--piece-size", "16K", dir},
		{filepath.Join(dir, "app 1.0.tar.gz"), "--signature", "none"},
	} {
		out := filepath.Join(tmp, "out"+string(rune('0'+i))+".meta4")
		if _, stderr, code := runCLI(t, append([]string{"publish", "--no-cache", "-o", out}, args...)...); code != 0 {
			t.Fatalf("publish %v: exit %d: %s", args, code, stderr)
		}
		outs = append(outs, out)
	}
	// --each outputs too.
	if _, stderr, code := runCLI(t, "publish", "--no-cache", "--each", "--origin", "https://o.example/", dir); code != 0 {
		t.Fatalf("--each: exit %d: %s", code, stderr)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".meta4") {
			outs = append(outs, p)
		}
		return nil
	})
	cmd := exec.Command(jing, append([]string{"-c", schema}, outs...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("jing rejected generated metalinks: %v\n%s", err, b)
	}
	if len(outs) != 6 {
		t.Errorf("validated %d documents, want 6", len(outs))
	}
}

func TestPublishAria2cDownloadsFromTwoMirrors(t *testing.T) {
	aria2c, err := exec.LookPath("aria2c")
	if err != nil {
		t.Skip("aria2c not installed (CI installs it): cannot test interop")
	}
	dir, files := publishTree(t)
	var servers []string
	var hits [2]atomic.Int64
	for i := range 2 {
		fsrv := http.FileServer(http.Dir(dir))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			// The preferred mirror lacks docs/: aria2c must take those from the other.
			if i == 0 && strings.HasPrefix(r.URL.Path, "/docs/") {
				http.NotFound(w, r)
				return
			}
			fsrv.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		servers = append(servers, srv.URL+"/")
	}
	out := filepath.Join(t.TempDir(), "release.meta4")
	if _, stderr, code := runCLI(t, "publish", "--no-cache", "-o", out, "--piece-size", "16K",
		"--mirror", servers[0]+",priority=1", "--mirror", servers[1]+",priority=2", dir); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, stderr)
	}
	dl := t.TempDir()
	cmd := exec.Command(aria2c, "--metalink-file="+out, "--dir="+dl, "--no-conf=true", "--console-log-level=warn",
		"--summary-interval=0", "--file-allocation=none", "--max-tries=2", "--split=4", "--min-split-size=1M", "--max-connection-per-server=4",
		"--realtime-chunk-checksum=true", "--check-integrity=false", "--connect-timeout=5", "--timeout=20")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aria2c failed: %v\n%s", err, b)
	}
	if hits[0].Load() == 0 || hits[1].Load() == 0 {
		t.Errorf("requests: mirror 1 %d, mirror 2 %d; want both mirrors used", hits[0].Load(), hits[1].Load())
	}
	for name, data := range files {
		if strings.HasSuffix(name, ".asc") {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dl, filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("aria2c did not produce %q: %v", name, err)
		}
		if publishSHA(got) != publishSHA(data) {
			t.Errorf("%s: downloaded sha-256 %s, want %s", name, publishSHA(got), publishSHA(data))
		}
	}
}

// TestPublishUnreadableFile runs mlink publish on a file it may not read. Root
// reads everything, so as root the command runs in a child process as nobody.
func TestPublishUnreadableFile(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "tree")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "ok.bin"), []byte("fine"), 0o644)
	secret := filepath.Join(dir, "secret.bin")
	os.WriteFile(secret, []byte("hidden"), 0o000)
	out := filepath.Join(base, "out.meta4")
	args := []string{"publish", "--no-cache", "-o", out, dir}
	var code int
	var stderr string
	if os.Geteuid() != 0 {
		_, stderr, code = runCLI(t, args...)
	} else {
		// Copy the test binary where nobody can execute it, and run it as nobody.
		exe, err := os.Executable()
		if err != nil {
			t.Skipf("cannot find the test binary to rerun as nobody: %v", err)
		}
		bin := filepath.Join(base, "mlink.test")
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{filepath.Dir(base), base} {
			os.Chmod(d, 0o777)
		}
		cmd := exec.Command(bin, "-test.run=^TestPublishChildProcess$")
		cmd.Env = append(os.Environ(), "MLINK_PUBLISH_CHILD="+strings.Join(args, "\n"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err = cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			code = 0
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			t.Skipf("cannot run a child process as nobody: %v", err)
		}
		stderr = errb.String()
	}
	if code != exitError || !strings.Contains(stderr, "secret.bin") || !strings.Contains(stderr, "permission denied") {
		t.Fatalf("unreadable file: exit %d, stderr %q; want exit 1 naming secret.bin and permission denied", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("output written despite the unreadable input")
	}
}

// TestPublishChildProcess is the child half of TestPublishUnreadableFile.
func TestPublishChildProcess(t *testing.T) {
	args := os.Getenv("MLINK_PUBLISH_CHILD")
	if args == "" {
		t.Skip("helper process for TestPublishUnreadableFile; runs only as its child")
	}
	os.Exit(run(t.Context(), strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr))
}

func TestPublishDamagedAndBusyCache(t *testing.T) {
	dir, _ := publishTree(t)
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "hashes.db")
	os.WriteFile(cache, publishRand(40_000, 9), 0o600)
	stdout, stderr, code := runCLI(t, "publish", "--json", "--cache", cache, "-o", filepath.Join(tmp, "a.meta4"), dir)
	if code != 0 || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "damaged") {
		t.Fatalf("damaged cache: exit %d, stderr %q; want success with a warning", code, stderr)
	}
	var s publishSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil || s.Hashed != 3 || len(s.Warnings) == 0 {
		t.Fatalf("summary %+v (%v), want 3 hashed files and the warning", s, err)
	}
	// The rebuilt cache works on the next run.
	stdout, _, code = runCLI(t, "publish", "--json", "--cache", cache, "-o", filepath.Join(tmp, "b.meta4"), dir)
	if err := json.Unmarshal([]byte(stdout), &s); code != 0 || err != nil || s.Cached != 3 {
		t.Fatalf("run on the rebuilt cache: exit %d, summary %+v", code, s)
	}
	if testing.Short() {
		return
	}
	// A cache held by another process: hash without it, with a warning.
	held, err := publish.OpenCache(cache)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	stdout, stderr, code = runCLI(t, "publish", "--json", "--cache", cache, "-o", filepath.Join(tmp, "c.meta4"), dir)
	if err := json.Unmarshal([]byte(stdout), &s); code != 0 || err != nil || s.Hashed != 3 || !strings.Contains(stderr, "in use") {
		t.Fatalf("busy cache: exit %d, summary %+v, stderr %q", code, s, stderr)
	}
}

func TestPublishInterrupted(t *testing.T) {
	dir, _ := publishTree(t)
	out := filepath.Join(t.TempDir(), "r.meta4")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, stderr, code := runCLIContext(t, ctx, "", "publish", "--no-cache", "-o", out, dir)
	if code != exitInterrupted {
		t.Fatalf("cancelled publish: exit %d (%s), want %d", code, stderr, exitInterrupted)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Fatalf("cancelled publish left %v", ents)
	}
}

// TestPublishProgressBarOnTerminal runs the built mlink under script(1), which
// gives it a pseudo-terminal: the progress bar must be drawn there, and only there.
func TestPublishProgressBarOnTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) not installed: no pseudo-terminal to test the progress bar on")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH: cannot build mlink for the terminal test")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "mlink")
	if b, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	in := filepath.Join(tmp, "artifact.bin")
	os.WriteFile(in, publishRand(1<<20, 5), 0o644)
	cmdline := "stty cols 120 rows 30; " + bin + " publish --no-cache -o " + filepath.Join(tmp, "a.meta4") + " " + in
	out, err := exec.Command(script, "-qec", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Skipf("script(1) could not run mlink on a pseudo-terminal: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("hashing 1 file(s)")) || !bytes.Contains(out, []byte("1.0 MiB / 1.0 MiB")) {
		t.Fatalf("no progress bar on a terminal:\n%s", out)
	}
	// Not a terminal: no bar.
	var errb bytes.Buffer
	c := exec.Command(bin, "publish", "--no-cache", "-o", filepath.Join(tmp, "b.meta4"), in)
	c.Stderr = &errb
	if err := c.Run(); err != nil || bytes.Contains(errb.Bytes(), []byte("hashing")) {
		t.Fatalf("off a terminal: err %v, stderr %q (want no progress bar)", err, errb.String())
	}
}
