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
