package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/publish"
)

const pushCLIToken = "cli-test-token-0123456789"

// pushCLIServer starts an upload server on a temp dir and writes the token
// file; it returns the server, its directory and the token file.
func pushCLIServer(t *testing.T) (*httptest.Server, string, string) {
	t.Helper()
	dir := t.TempDir()
	h, err := publish.NewUploadHandler(dir, publish.UploadOptions{Token: pushCLIToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte(pushCLIToken+"\n"), 0o600)
	return srv, dir, tok
}

func pushCLIFile(t *testing.T, name string, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, data, 0o644)
	return p, data
}

func TestPushCLIDirectoryURLAndJSON(t *testing.T) {
	srv, dir, tok := pushCLIServer(t)
	a, da := pushCLIFile(t, "a.bin", 100000)
	b, db := pushCLIFile(t, "b.bin", 5000)
	meta := filepath.Join(t.TempDir(), "out.meta4")
	out, stderr, code := runCLI(t, "push", "--token-file", tok, "--chunk-size", "16KiB", "--json",
		"--publish-meta4", meta, a, b, srv.URL+"/pub/")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	for name, want := range map[string][]byte{"pub/a.bin": da, "pub/b.bin": db} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s on the server differs (%v)", name, err)
		}
	}
	var sum pushSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	shaA := sha256.Sum256(da)
	if len(sum.Pushed) != 2 || len(sum.Failed) != 0 || sum.Pushed[0].SHA256 != hex.EncodeToString(shaA[:]) || sum.Meta4 != meta {
		t.Fatalf("summary %+v", sum)
	}
	if strings.Contains(out+stderr, pushCLIToken) {
		t.Fatal("the token was printed")
	}
	m, err := metalink.DecodeFile(meta, nil)
	if err != nil {
		t.Fatalf("--publish-meta4 output: %v", err)
	}
	if len(m.Files) != 2 {
		t.Fatalf("metalink has %d files", len(m.Files))
	}
	for _, f := range m.Files {
		if len(f.URLs) != 1 || f.URLs[0].URL != srv.URL+"/pub/"+f.Name {
			t.Errorf("%s: URLs %+v, want the pushed URL", f.Name, f.URLs)
		}
		if f.Name == "a.bin" {
			if h, _ := f.StrongestHash(); h.Value != hex.EncodeToString(shaA[:]) {
				t.Errorf("a.bin hash %+v", h)
			}
		}
	}

	// Pushing again finds everything in place.
	out, stderr, code = runCLI(t, "push", "--token-file", tok, a, srv.URL+"/pub/a.bin")
	if code != exitOK || !strings.Contains(out, "already on the server") {
		t.Fatalf("second push: exit %d, out %q, stderr %q", code, out, stderr)
	}
}

func TestPushCLIErrors(t *testing.T) {
	srv, dir, tok := pushCLIServer(t)
	a, _ := pushCLIFile(t, "a.bin", 1000)
	b, _ := pushCLIFile(t, "b.bin", 1000)
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("wrong-token-0123456789"), 0o600)
	always503 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(always503.Close)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"two files to a file URL", []string{"--token-file", tok, a, b, srv.URL + "/x"}, exitUsage},
		{"not a URL", []string{"--token-file", tok, a, "/tmp/x"}, exitUsage},
		{"bad chunk size", []string{"--token-file", tok, "--chunk-size", "8 parsecs", a, srv.URL + "/x"}, exitUsage},
		{"tiny chunk size", []string{"--token-file", tok, "--chunk-size", "10", a, srv.URL + "/x"}, exitUsage},
		{"missing file argument", []string{srv.URL + "/x"}, exitUsage},
		{"wrong token", []string{"--token-file", bad, a, srv.URL + "/x"}, exitError},
		{"no token", []string{a, srv.URL + "/x"}, exitError},
		{"missing token file", []string{"--token-file", filepath.Join(dir, "nope"), a, srv.URL + "/x"}, exitError},
		{"no such file", []string{"--token-file", tok, filepath.Join(dir, "nope"), srv.URL + "/x"}, exitError},
		{"server keeps failing", []string{"--token-file", tok, "--retries", "1", a, always503.URL + "/x"}, exitIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(pushTokenEnv, "")
			_, stderr, code := runCLI(t, append([]string{"push"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr)
			}
			if strings.Contains(stderr, pushCLIToken) || strings.Contains(stderr, "wrong-token-0123456789") {
				t.Fatal("the token was printed")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Fatal("a failed push published a file")
	}
}

func TestPushCLITokenFromEnvironment(t *testing.T) {
	srv, dir, _ := pushCLIServer(t)
	a, da := pushCLIFile(t, "a.bin", 3000)
	t.Setenv(pushTokenEnv, pushCLIToken)
	if _, stderr, code := runCLI(t, "push", a, srv.URL+"/renamed.bin"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "renamed.bin")); !bytes.Equal(got, da) {
		t.Fatal("file differs")
	}
}

func TestPushCLIMeta4ListsOnlyPushedFiles(t *testing.T) {
	srv, dir, tok := pushCLIServer(t)
	a, _ := pushCLIFile(t, "a.bin", 4000)
	b, _ := pushCLIFile(t, "b.bin", 6000)
	// b.bin exists on the server with other content: its push fails.
	os.MkdirAll(filepath.Join(dir, "pub"), 0o755)
	os.WriteFile(filepath.Join(dir, "pub", "b.bin"), []byte("other"), 0o644)
	meta := filepath.Join(t.TempDir(), "out.meta4")
	_, stderr, code := runCLI(t, "push", "--token-file", tok, "--publish-meta4", meta, a, b, srv.URL+"/pub/")
	if code != exitError {
		t.Fatalf("exit %d, want %d (one push refused); stderr %s", code, exitError, stderr)
	}
	m, err := metalink.DecodeFile(meta, nil)
	if err != nil {
		t.Fatalf("metalink: %v", err)
	}
	if len(m.Files) != 1 || m.Files[0].Name != "a.bin" {
		t.Fatalf("metalink lists %+v, want only the pushed a.bin", m.Files)
	}

	// A single file pushed under another name is listed under that name.
	meta2 := filepath.Join(t.TempDir(), "renamed.meta4")
	if _, stderr, code := runCLI(t, "push", "--token-file", tok, "--publish-meta4", meta2, a, srv.URL+"/pub/app%201.0.bin"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, err = metalink.DecodeFile(meta2, nil)
	if err != nil || len(m.Files) != 1 || m.Files[0].Name != "app 1.0.bin" || m.Files[0].URLs[0].URL != srv.URL+"/pub/app%201.0.bin" {
		t.Fatalf("renamed push metalink: %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pub", "app 1.0.bin")); err != nil {
		t.Fatalf("renamed upload not on the server: %v", err)
	}
}
