package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveSyncBuffer is a bytes.Buffer safe to write from another goroutine (a server,
// mpb's renderer) while the test reads it.
type serveSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *serveSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *serveSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `mlink serve args...` in-process and returns its base URL
// and a stop function that cancels it (as SIGINT would) and returns the exit
// code and stderr.
func startServe(t *testing.T, args ...string) (base string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &serveSyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), io.Discard, stderr)
	}()
	re := regexp.MustCompile(`serving .* at (https?://[^ ]+?)/\n`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("mlink serve exited %d before serving:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("mlink serve did not start:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := false
	var code int
	stop = func() (int, string) {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code, stderr.String()
	}
	t.Cleanup(func() { stop() })
	return base, stop
}

func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("mlink serve "), 100_000)
	os.MkdirAll(filepath.Join(dir, "rel"), 0o755)
	os.WriteFile(filepath.Join(dir, "rel", "app.bin"), data, 0o644)
	mirrors := filepath.Join(t.TempDir(), "mirrors.txt")
	os.WriteFile(mirrors, []byte("# mirrors\nhttps://m1.example/pub/ priority=1 location=de\n"), 0o644)
	cache := filepath.Join(t.TempDir(), "hashes.db")

	base, stop := startServe(t, dir, "--addr", "127.0.0.1:0", "--mirrors", mirrors, "--cache", cache, "--max-ranges", "2", "--hash", "sha-512")
	req, _ := http.NewRequest("GET", base+"/rel/app.bin", nil)
	req.Header.Set("Range", "bytes=10-19")
	req.Header.Set("Want-Digest", "sha-512")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(body, data[10:20]) {
		t.Fatalf("range GET: %d %q", resp.StatusCode, body)
	}
	if d := resp.Header.Get("Digest"); !strings.HasPrefix(d, "SHA-256=") || !strings.Contains(d, ", SHA-512=") {
		t.Errorf("Digest %q, want SHA-256 and SHA-512 (--hash sha-512)", d)
	}
	links := strings.Join(resp.Header.Values("Link"), "\n")
	if !strings.Contains(links, "<https://m1.example/pub/rel/app.bin>; rel=duplicate; pri=1; geo=de") || !strings.Contains(links, "rel=describedby") {
		t.Errorf("Link fields:\n%s", links)
	}
	// --max-ranges 2: three distant ranges get the whole file.
	req.Header.Set("Range", "bytes=0-0,1000-1000,5000-5000")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("3 ranges with --max-ranges 2: %d, want 200", resp.StatusCode)
	}
	resp, err = http.Get(base + "/rel/app.bin.meta4")
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(meta, []byte(`<generator>mlink/`)) || !bytes.Contains(meta, []byte("https://m1.example/pub/rel/app.bin")) {
		t.Errorf("meta4: %d\n%s", resp.StatusCode, meta)
	}
	code, stderr := stop()
	if code != exitOK || !strings.Contains(stderr, "server stopped") {
		t.Errorf("after cancel: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "path=/rel/app.bin") {
		t.Errorf("requests not logged:\n%s", stderr)
	}
	if st, err := os.Stat(cache); err != nil || st.Size() == 0 {
		t.Errorf("hash cache not written: %v", err)
	}
}

// TestServeCommandGraceful: a download in flight when the signal comes
// completes; then the command exits 0.
func TestServeCommandGraceful(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	os.WriteFile(filepath.Join(dir, "big"), data, 0o644)
	base, stop := startServe(t, dir, "--addr", "127.0.0.1:0", "--quiet")
	resp, err := http.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() { c, s := stop(); done <- result{c, s} }()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest)+1 != len(data) {
		t.Fatalf("download cut by shutdown: %v after %d bytes", err, len(rest)+1)
	}
	r := <-done
	if r.code != exitOK {
		t.Errorf("exit %d:\n%s", r.code, r.stderr)
	}
	if _, err := http.Get(base + "/big"); err == nil {
		t.Errorf("server still answers after shutdown")
	}
}

func TestServeCommandTLS(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("over TLS"), 0o644)
	certFile, keyFile, pool := serveTestCert(t)
	base, stop := startServe(t, dir, "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--quiet")
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %q", base)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(base + "/f")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "over TLS" {
		t.Errorf("%s %q, want HTTP/2", resp.Proto, body)
	}
	if code, stderr := stop(); code != exitOK || strings.Contains(stderr, "path=/f") {
		t.Errorf("exit %d; --quiet still logged requests:\n%s", code, stderr)
	}
}

func TestServeCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"serve"}, exitUsage},
		{[]string{"serve", dir, "extra"}, exitUsage},
		{[]string{"serve", dir, "--tls-cert", "c.pem"}, exitUsage},
		{[]string{"serve", dir, "--max-ranges", "-1"}, exitUsage},
		{[]string{"serve", dir, "--hash", "crc32"}, exitUsage},
		{[]string{"serve", filepath.Join(dir, "missing")}, exitError},
		{[]string{"serve", dir, "--mirrors", filepath.Join(dir, "missing.txt")}, exitError},
		{[]string{"serve", dir, "--addr", "not-an-address"}, exitError},
	} {
		_, stderr, code := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("mlink %v: exit %d, want %d (%s)", tc.args, code, tc.code, stderr)
		}
	}
	bad := filepath.Join(dir, "bad-mirrors.txt")
	os.WriteFile(bad, []byte("ftp://x.example/ priority=1\n"), 0o644)
	_, stderr, code := runCLI(t, "serve", dir, "--mirrors", bad)
	if code != exitError || !strings.Contains(stderr, "bad-mirrors.txt") {
		t.Errorf("bad mirrors file: exit %d, %s", code, stderr)
	}
}

// serveTestCert writes a self-signed certificate for 127.0.0.1.
func serveTestCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mlink test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	certFile, keyFile = filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile, pool
}
