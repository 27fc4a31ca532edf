package main

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestServeUploadsNeedTheTokenFlag: without --upload-token-file a PUT is refused; with it,
// mlink push uploads a file that then downloads byte-identical from the same server.
func TestServeUploadsNeedTheTokenFlag(t *testing.T) {
	dir := t.TempDir()
	base, stop := startServe(t, dir, "--addr", "127.0.0.1:0", "--quiet")
	req, err := http.NewRequest(http.MethodPut, base+"/x.bin", bytes.NewReader([]byte("data")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("PUT without --upload-token-file: status %d, want a refusal", resp.StatusCode)
	}
	stop()

	dir = t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop = startServe(t, dir, "--addr", "127.0.0.1:0", "--quiet", "--upload-token-file", tokenFile)
	defer stop()
	content := make([]byte, 3<<20+17)
	rand.Read(content)
	src := filepath.Join(t.TempDir(), "up.bin")
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "push", "--token-file", tokenFile, "--chunk-size", "1MiB", src, base+"/"); code != exitOK {
		t.Fatalf("mlink push exited %d\n%s\n%s", code, out, errOut)
	}
	got, err := os.ReadFile(filepath.Join(dir, "up.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("pushed file on the server: err %v, equal %v", err, bytes.Equal(got, content))
	}
	if _, _, code := runCLI(t, "push", src, base+"/other.bin"); code == exitOK {
		t.Errorf("push without a token succeeded")
	}
}

// --quiet on push and publish prints nothing but errors, and still does the work.
func TestPushPublishQuiet(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, dir, "--addr", "127.0.0.1:0", "--quiet", "--upload-token-file", tokenFile)
	defer stop()
	content := make([]byte, 1<<20+3)
	rand.Read(content)
	src := filepath.Join(t.TempDir(), "q.bin")
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "push", "-q", "--token-file", tokenFile, src, base+"/")
	if code != exitOK || out != "" || errOut != "" {
		t.Fatalf("mlink push -q: exit %d, stdout %q, stderr %q; want 0 and nothing printed", code, out, errOut)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "q.bin")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("push -q did not upload the file (err %v)", err)
	}
	meta := filepath.Join(t.TempDir(), "q.meta4")
	// A mirror without a trailing slash would print a note: quiet hides it too.
	out, errOut, code = runCLI(t, "publish", "-q", "--no-cache", "--mirror", base+"/pub", "-o", meta, src)
	if code != exitOK || out != "" || errOut != "" {
		t.Fatalf("mlink publish -q: exit %d, stdout %q, stderr %q; want 0 and nothing printed", code, out, errOut)
	}
	if fi, err := os.Stat(meta); err != nil || fi.Size() == 0 {
		t.Fatalf("publish -q wrote no metalink (err %v)", err)
	}
	if _, errOut, code = runCLI(t, "publish", "-q", "--no-cache", "-o", meta, src); code != exitError || errOut == "" {
		t.Errorf("publish -q over an existing output: exit %d, stderr %q; want the error", code, errOut)
	}
}
