package main

// SECURITY.md catalogue cases checked through the command line (docs/CATALOGUE.md maps
// every case to its tests).

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
)

// catMetalink is a v4 metalink for data named name with sha-256 and piece hashes.
func catMetalink(name string, data []byte, plen int, urls ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="%s"><size>%d</size><hash type="sha-256">%x</hash>
    <pieces length="%d" type="sha-256">`, name, len(data), sha256.Sum256(data), plen)
	for off := 0; off < len(data); off += plen {
		fmt.Fprintf(&b, "<hash>%x</hash>", sha256.Sum256(data[off:min(off+plen, len(data))]))
	}
	b.WriteString("</pieces>\n")
	for i, u := range urls {
		fmt.Fprintf(&b, "    <url priority=\"%d\">%s</url>\n", i+1, u)
	}
	b.WriteString("  </file>\n</metalink>\n")
	return b.String()
}

func catData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Case 29: a metalink served over TLS with a certificate we cannot verify is a TLS
// error (exit 1), no mirror is asked and nothing is written; over plain http it is
// used, with a warning that its hashes could have been changed on the way.
func TestCatalogueMetalinkOverBadTLS(t *testing.T) { // case 29
	data := catData(64<<10, 1)
	mirror := mirrortest.Start(t, data)
	doc := catMetalink("f.bin", data, 16<<10, mirror.URL())
	for _, tc := range []struct {
		name string
		opt  mirrortest.Option
	}{
		{"self-signed", mirrortest.TLS()},
		{"expired", mirrortest.TLSExpired()},
		{"wrong host", mirrortest.TLSWrongHost()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := mirrortest.Start(t, []byte(doc), mirrortest.Path("/f.meta4"), tc.opt)
			dir := t.TempDir()
			_, stderr, code := runCLI(t, "get", origin.URL(), "-d", dir, "-q")
			if code == exitOK {
				t.Fatalf("metalink over an unverifiable certificate accepted")
			}
			if !strings.Contains(strings.ToLower(stderr), "certificate") {
				t.Errorf("error does not name the certificate problem: %s", stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("written: %v", entries)
			}
		})
	}
	if n := mirror.RequestCount(); n != 0 {
		t.Errorf("the mirror got %d requests from refused metalinks", n)
	}
	// Plain http: the metalink is used (the catalogue allows it with a warning).
	origin := mirrortest.Start(t, []byte(doc), mirrortest.Path("/f.meta4"))
	dir := t.TempDir()
	_, stderr, code := runCLI(t, "get", origin.URL(), "-d", dir, "--progress", "none")
	if code != exitOK {
		t.Fatalf("http metalink: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, "plain http") {
		t.Errorf("no warning for a metalink over plain http: %q", stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.bin")); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
}

const catKillEnv = "MLINK_CATALOGUE_KILL_ARGS"

// TestCatalogueKillChild is the child of TestCatalogueKillAndResume: it runs
// `mlink get` with the arguments in $MLINK_CATALOGUE_KILL_ARGS and exits with its code.
func TestCatalogueKillChild(t *testing.T) {
	args := os.Getenv(catKillEnv)
	if args == "" {
		t.Skip("child helper of TestCatalogueKillAndResume")
	}
	os.Exit(run(context.Background(), strings.Split(args, "\x1f"), strings.NewReader(""), os.Stdout, os.Stderr))
}

// Case 70: `mlink get` (a child process) SIGKILLed at random moments, then run again:
// after every kill the final name is absent or holds the right bytes, and the last run
// completes the file (exit 0) from the resume journal.
func TestCatalogueKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	data := catData(768<<10, 2)
	// Throttled so that a run takes longer than the kill delays.
	m1 := mirrortest.Start(t, data, mirrortest.Throttle(256<<10))
	m2 := mirrortest.Start(t, data, mirrortest.Throttle(256<<10), mirrortest.CorruptFraction(16<<10, 0.2, 3))
	meta := filepath.Join(t.TempDir(), "f.meta4")
	os.WriteFile(meta, []byte(catMetalink("f.bin", data, 16<<10, m1.URL(), m2.URL())), 0o644)
	dir := t.TempDir()
	args := []string{"get", meta, "-d", dir, "-q", "--low-speed-time", "2s"}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 70))
	final := filepath.Join(dir, "f.bin")
	midway := 0
	for kill := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCatalogueKillChild$")
		cmd.Env = append(os.Environ(), catKillEnv+"="+strings.Join(args, "\x1f"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the child has created its part file, then kill it a little later.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if _, err := os.Stat(final + ".part"); err == nil {
				break
			}
			if _, err := os.Stat(final); err == nil {
				break
			}
		}
		time.Sleep(time.Duration(50+r.IntN(250)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := os.Stat(final); err != nil {
			midway++
		}
		if got, err := os.ReadFile(final); err == nil && !bytes.Equal(got, data) {
			t.Fatalf("after kill %d the final name holds %d wrong bytes", kill, len(got))
		}
	}
	if midway == 0 {
		t.Fatal("every child finished before its kill: the test tested nothing")
	}
	if _, stderr, code := runCLI(t, args...); code != exitOK {
		t.Fatalf("run after the kills: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(final); !bytes.Equal(got, data) {
		t.Fatal("final file differs after resume")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left in the target directory: %v", entries)
	}
}

// Cases 19-21 through the CLI: only md5 downloads with a warning on stderr (issue 6's
// decision) and --require-strong-hash refuses it (exit 3); an unknown algorithm alone
// is "no supported hash" (exit 3) unless --insecure-no-hash.
func TestCatalogueHashPolicyCLI(t *testing.T) { // cases 19, 20, 21
	data := catData(32<<10, 4)
	m := mirrortest.Start(t, data)
	write := func(hash string) string {
		doc := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="f.bin"><size>%d</size>%s<url>%s</url></file>
</metalink>`, len(data), hash, m.URL())
		p := filepath.Join(t.TempDir(), "f.meta4")
		os.WriteFile(p, []byte(doc), 0o644)
		return p
	}
	md5only := write(fmt.Sprintf(`<hash type="md5">%x</hash>`, md5sum(data)))
	dir := t.TempDir()
	_, stderr, code := runCLI(t, "get", md5only, "-d", dir, "--progress", "none")
	if code != exitOK || !strings.Contains(stderr, "weak") {
		t.Errorf("md5 only: exit %d, stderr %q; want 0 and a warning naming the weak hash", code, stderr)
	}
	if _, _, code := runCLI(t, "get", md5only, "-d", t.TempDir(), "-q", "--require-strong-hash"); code != exitVerify {
		t.Errorf("md5 only with --require-strong-hash: exit %d, want 3", code)
	}
	// The catalogue's spelling of the default is accepted (downloads and warns); with
	// --require-strong-hash it is a contradiction.
	if _, stderr, code := runCLI(t, "get", md5only, "-d", t.TempDir(), "--progress", "none", "--allow-weak-hash"); code != exitOK || !strings.Contains(stderr, "weak") {
		t.Errorf("md5 only with --allow-weak-hash: exit %d, stderr %q; want 0 and the warning", code, stderr)
	}
	if _, _, code := runCLI(t, "get", md5only, "-d", t.TempDir(), "-q", "--allow-weak-hash", "--require-strong-hash"); code != exitUsage {
		t.Errorf("--allow-weak-hash with --require-strong-hash: exit %d, want 2", code)
	}
	unknown := write(`<hash type="sha3-999">00</hash>`)
	dir = t.TempDir()
	if _, _, code := runCLI(t, "get", unknown, "-d", dir, "-q"); code != exitVerify {
		t.Errorf("unknown hash only: exit %d, want 3", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused download left %v", entries)
	}
	if _, stderr, code := runCLI(t, "get", unknown, "-d", dir, "-q", "--insecure-no-hash"); code != exitOK {
		t.Errorf("unknown hash only with --insecure-no-hash: exit %d: %s", code, stderr)
	}
}

// Case 32 through the CLI: an existing file that verifies is "already complete", exit
// 0, with no request to any mirror.
func TestCatalogueAlreadyCompleteCLI(t *testing.T) { // case 32
	data := catData(48<<10, 5)
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests++ }))
	t.Cleanup(srv.Close)
	meta := filepath.Join(t.TempDir(), "f.meta4")
	os.WriteFile(meta, []byte(catMetalink("f.bin", data, 16<<10, srv.URL+"/f.bin")), 0o644)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o644)
	if _, stderr, code := runCLI(t, "get", meta, "-d", dir, "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	srv.Close()
	if requests != 0 {
		t.Errorf("%d requests for a file already complete", requests)
	}
}

func md5sum(b []byte) [md5.Size]byte { return md5.Sum(b) }

// Cases 1, 6, 10 through `mlink get`: a traversal name is refused (exit 3) while the
// safe file of the same metalink downloads; a document with conflicting names or a
// DOCTYPE is refused whole (exit 3). Nothing is written outside the target directory,
// and refused entries cause no request.
func TestCatalogueHostileDocumentsCLI(t *testing.T) { // cases 1, 6, 10
	data := catData(32<<10, 6)
	m := mirrortest.Start(t, data)
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	os.Mkdir(dir, 0o755)
	good := catMetalink("ok.bin", data, 16<<10, m.URL())
	evil := strings.Replace(catMetalink("../evil.bin", data, 16<<10, m.URL()), `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">`, "", 1)
	evil = strings.Replace(evil, "</metalink>", "", 1)
	mixed := strings.Replace(good, "</metalink>", evil+"</metalink>", 1)
	meta := filepath.Join(t.TempDir(), "mixed.meta4")
	os.WriteFile(meta, []byte(mixed), 0o644)
	_, stderr, code := runCLI(t, "get", meta, "-d", dir, "-q")
	if code != exitVerify || !strings.Contains(stderr, "../evil.bin") {
		t.Errorf("traversal entry: exit %d, stderr %q; want 3 naming the entry", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ok.bin")); !bytes.Equal(got, data) {
		t.Error("the safe file of the document was not downloaded")
	}
	if _, err := os.Stat(filepath.Join(parent, "evil.bin")); err == nil {
		t.Fatal("written outside the target directory")
	}
	requests := m.RequestCount()

	conflict := strings.Replace(good, "</metalink>", strings.Replace(evil, "../evil.bin", "OK.bin", 1)+"</metalink>", 1)
	doctype := strings.Replace(good, "<metalink ", `<!DOCTYPE metalink [<!ENTITY x "y">]><metalink `, 1)
	for name, doc := range map[string]string{"conflicting names": conflict, "DOCTYPE": doctype} {
		p := filepath.Join(t.TempDir(), "f.meta4")
		os.WriteFile(p, []byte(doc), 0o644)
		out := t.TempDir()
		if _, stderr, code := runCLI(t, "get", p, "-d", out, "-q"); code != exitVerify {
			t.Errorf("%s: exit %d (%s), want 3", name, code, stderr)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%s: written %v", name, entries)
		}
	}
	if n := m.RequestCount(); n != requests {
		t.Errorf("refused documents caused %d requests", n-requests)
	}
}
