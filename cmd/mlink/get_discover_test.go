package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
)

func discoverRandom(size int, seed uint64) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func decodeGetJSON(t *testing.T, out string) getResult {
	t.Helper()
	var res getResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	if len(res.Metalinks) != 1 {
		t.Fatalf("JSON report has %d sources", len(res.Metalinks))
	}
	return res
}

// TestGetDescribedByServe: `mlink get http://origin/file` against `mlink serve` with
// two mirrors (two more `mlink serve` of the same tree): the Link rel=describedby
// metalink is used, and every one of its mirrors serves bytes.
func TestGetDescribedByServe(t *testing.T) {
	dir := t.TempDir()
	data := discoverRandom(3<<20, 11)
	if err := os.WriteFile(filepath.Join(dir, "app.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m1, _ := startServe(t, dir, "--addr", "127.0.0.1:0", "--quiet")
	m2, _ := startServe(t, dir, "--addr", "127.0.0.1:0", "--quiet")
	mirrors := filepath.Join(t.TempDir(), "mirrors.txt")
	os.WriteFile(mirrors, []byte(m1+"/ priority=1\n"+m2+"/ priority=2\n"), 0o644)
	origin, _ := startServe(t, dir, "--addr", "127.0.0.1:0", "--quiet", "--mirrors", mirrors)

	out := t.TempDir()
	stdout, stderr, code := runCLI(t, "get", origin+"/app.bin", "-d", out, "--json", "--progress", "none", "-x", "3", "--per-mirror", "1",
		"--limit-rate", "6M") // under a rate limit nothing is raced early: each mirror keeps its share
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "app.bin")); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	if strings.Count(stderr, "rel=describedby") != 1 || !strings.Contains(stderr, origin+"/app.bin.meta4") {
		t.Errorf("stderr does not say once where the metalink came from:\n%s", stderr)
	}
	res := decodeGetJSON(t, stdout)
	mr := res.Metalinks[0]
	if mr.Discovery != "describedby" || mr.MetalinkURL != origin+"/app.bin.meta4" || mr.Report == nil || len(mr.Report.Files) != 1 {
		t.Fatalf("report %+v", mr)
	}
	f := mr.Report.Files[0]
	if want := fmt.Sprintf("sha-256:%x", sha256.Sum256(data)); !strings.HasPrefix(f.Hash, "sha-256") || len(f.Mirrors) != 3 {
		t.Errorf("hash %q (want %s), %d mirrors (want 3: two mirrors and the origin)", f.Hash, want, len(f.Mirrors))
	}
	for _, m := range f.Mirrors {
		if m.Bytes == 0 {
			t.Errorf("mirror %s served no bytes (%+v)", m.URL, f.Mirrors)
		}
	}
}

// TestGetDuplicatesDigestCLI: Link rel=duplicate + Digest through the CLI; a mirror
// with Link fields of its own is used for bytes only (the server they name gets no
// request); the output says which path was taken.
func TestGetDuplicatesDigestCLI(t *testing.T) {
	data := discoverRandom(512<<10, 12)
	sum := sha256.Sum256(data)
	elsewhere := mirrortest.Start(t, data)
	hostile := mirrortest.Start(t, data, mirrortest.Path("/pub/app.tar"),
		mirrortest.Header("Link", "<"+elsewhere.URL()+">; rel=duplicate; pri=1"),
		mirrortest.Header("Link", "<"+elsewhere.BaseURL()+`/app.tar.meta4>; rel=describedby; type="application/metalink4+xml"`))
	good := mirrortest.Start(t, data, mirrortest.Path("/pub/app.tar"))
	origin := mirrortest.Start(t, data, mirrortest.Path("/dl/app.tar"),
		mirrortest.Header("Link", "<"+hostile.URL()+">; rel=duplicate; pri=1; geo=de"),
		mirrortest.Header("Link", "<"+good.URL()+">; rel=duplicate; pri=2"),
		mirrortest.Header("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":"))
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, "get", origin.URL(), "-d", out, "--json", "--progress", "none", "--per-mirror", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "app.tar")); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	if !strings.Contains(stderr, "2 mirror(s) from Link rel=duplicate") {
		t.Errorf("stderr: %s", stderr)
	}
	if mr := decodeGetJSON(t, stdout).Metalinks[0]; mr.Discovery != "duplicates" || mr.Mirrors != 2 {
		t.Errorf("JSON: discovery %q, %d mirrors", mr.Discovery, mr.Mirrors)
	}
	if elsewhere.RequestCount() != 0 {
		t.Errorf("a mirror's Link fields were followed: %d requests to the server they name", elsewhere.RequestCount())
	}
	if hostile.BytesServed() == 0 || good.BytesServed() == 0 {
		t.Errorf("bytes served: hostile-Link mirror %d, good %d", hostile.BytesServed(), good.BytesServed())
	}
}

// startNginx serves dir with nginx on a free loopback port (skips when nginx is
// missing) and returns its base URL.
func startNginx(t *testing.T, dir string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx not installed: the plain-download interop test needs it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	prefix := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(prefix, d), 0o755)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers would run as nobody and could not read the test's 0700 directories
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/logs/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[2]s/tmp/body;
	proxy_temp_path %[2]s/tmp/proxy;
	fastcgi_temp_path %[2]s/tmp/fastcgi;
	uwsgi_temp_path %[2]s/tmp/uwsgi;
	scgi_temp_path %[2]s/tmp/scgi;
	types { application/octet-stream bin; }
	server {
		listen %[3]s;
		root %[4]s;
	}
}
`, user, prefix, addr, dir)
	cf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd := exec.Command(bin, "-p", prefix, "-c", cf, "-g", "daemon off;")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Head(base + "/")
		if err == nil {
			resp.Body.Close()
			return base
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
			t.Fatalf("nginx exited: %s %s", errb.String(), log)
		default:
		}
		if i > 300 {
			t.Fatalf("nginx did not come up on %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGetPlainNginx: nginx sends no Metalink/HTTP headers: a plain download from the
// URL alone, said to be unverified; interrupted and run again, it resumes.
func TestGetPlainNginx(t *testing.T) {
	www := t.TempDir()
	data := discoverRandom(3<<20, 13)
	os.WriteFile(filepath.Join(www, "big.bin"), data, 0o644)
	base := startNginx(t, www)
	out := t.TempDir()
	args := []string{"get", base + "/big.bin", "-d", out, "--json", "--progress", "none", "--limit-rate", "1M"}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the journal exists and has had time to record pieces.
		for i := 0; i < 1000; i++ {
			if _, err := os.Stat(filepath.Join(out, "big.bin.part.mlj")); err == nil {
				time.Sleep(1500 * time.Millisecond)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	_, stderr, code := runCLIContext(t, ctx, "", args...)
	if code != exitInterrupted {
		t.Fatalf("interrupted run: exit %d, want 130: %s", code, stderr)
	}
	if !strings.Contains(stderr, "NOT verified: the server published no digest") {
		t.Errorf("no line saying the download is unverified: %s", stderr)
	}
	if strings.Contains(stderr, "--insecure-no-hash") {
		t.Errorf("the plain download mentions a flag the user did not give: %s", stderr)
	}
	stdout, stderr, code := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "big.bin")); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	mr := decodeGetJSON(t, stdout).Metalinks[0]
	if mr.Discovery != "plain" || mr.Report == nil {
		t.Fatalf("report %+v", mr)
	}
	f := mr.Report.Files[0]
	if f.Resumed == 0 || f.Bytes >= int64(len(data)) {
		t.Errorf("second run: %d pieces resumed, %d bytes fetched of %d: did not resume", f.Resumed, f.Bytes, len(data))
	}
	if !strings.Contains(stderr, "NOT verified") {
		t.Errorf("summary does not say unverified: %s", stderr)
	}
}

// TestGetCommonMistakes: the three mistakes get their exact messages, each printed
// once, and a failing source's error is printed once.
func TestGetCommonMistakes(t *testing.T) {
	t.Chdir(t.TempDir())
	os.Mkdir("dist", 0o755)
	for _, tc := range []struct{ arg, msg string }{
		{"dist", "dist is a directory; give the path of a .meta4 or .metalink file inside it"},
		{"releases.example.org/app.meta4", "releases.example.org/app.meta4: no such file; to download from the network give the full URL: https://releases.example.org/app.meta4"},
		{"ftp://example.org/a.iso", `ftp://example.org/a.iso: unsupported scheme "ftp": mlink fetches http:// and https:// URLs only`},
		{"file:///etc/passwd", `file:///etc/passwd: unsupported scheme "file": mlink fetches http:// and https:// URLs only`},
		{"missing.meta4", "missing.meta4: no such file"},
	} {
		_, stderr, code := runCLI(t, "get", tc.arg)
		if code != exitError || stderr != "mlink: "+tc.msg+"\n" {
			t.Errorf("mlink get %s: exit %d, stderr %q\nwant exit 1, %q", tc.arg, code, stderr, "mlink: "+tc.msg+"\n")
		}
		// verify loads sources the same way; mirrors check has its own checks first.
		for _, cmd := range [][]string{{"verify", tc.arg}, {"mirrors", "check", tc.arg}} {
			_, stderr, code := runCLI(t, cmd...)
			if code == exitOK || strings.Count(stderr, "mlink:") != 1 || cmd[0] == "verify" && !strings.Contains(stderr, tc.msg) {
				t.Errorf("mlink %s: exit %d, stderr %q", strings.Join(cmd, " "), code, stderr)
			}
		}
	}
	// Two failing sources: each error once, each on its own "mlink:" line.
	_, stderr, code := runCLI(t, "get", "dist", "ftp://x/y", "-q")
	want := "mlink: dist is a directory; give the path of a .meta4 or .metalink file inside it\nmlink: ftp://x/y: unsupported scheme \"ftp\": mlink fetches http:// and https:// URLs only\n"
	if code != exitError || stderr != want {
		t.Errorf("two bad sources: exit %d, stderr %q", code, stderr)
	}
	// A network error names the URL once.
	_, stderr, _ = runCLI(t, "get", "http://127.0.0.1:1/f.bin", "--progress", "none")
	if strings.Count(stderr, "mlink:") != 1 || strings.Count(stderr, "127.0.0.1:1/f.bin") > 2 {
		t.Errorf("connection refused printed more than once: %q", stderr)
	}
}

// TestGetURLCredentialsOriginOnly: `mlink get http://user:pw@origin/file` where the
// origin needs the credentials and announces a duplicate mirror with a digest: the
// origin gets them (on its HEAD and on its share of the download), the mirror never.
func TestGetURLCredentialsOriginOnly(t *testing.T) {
	data := discoverRandom(256<<10, 14)
	sum := sha256.Sum256(data)
	mirror := mirrortest.Start(t, data, mirrortest.Path("/m/f.bin"))
	var authed, refused atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "s3cret" {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		authed.Add(1)
		w.Header().Set("Link", "<"+mirror.URL()+">; rel=duplicate")
		w.Header().Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(origin.Close)
	src := strings.Replace(origin.URL, "http://", "http://user:s3cret@", 1) + "/f.bin"
	out := t.TempDir()
	_, stderr, code := runCLI(t, "get", src, "-d", out, "--progress", "none")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "f.bin")); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("the password was printed: %s", stderr)
	}
	if authed.Load() == 0 || refused.Load() != 0 {
		t.Errorf("origin: %d requests with the credentials, %d without (want >0 and 0)", authed.Load(), refused.Load())
	}
	if mirror.SawHeader("Authorization") {
		t.Error("the mirror got the origin's credentials")
	}
}

// TestGetURLNames: the name of a file built from headers comes from the URL's last
// path segment, checked like a metalink name: a hostile or missing one is refused
// (exit 3, nothing written anywhere), and -o names the download instead.
func TestGetURLNames(t *testing.T) {
	data := discoverRandom(64<<10, 15)
	sum := sha256.Sum256(data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	for _, p := range []string{"/%2e%2e", "/x/..%2f..%2fescape", "/dir/", "/.profile"} {
		_, stderr, code := runCLI(t, "get", srv.URL+p, "-d", out, "--progress", "none")
		if code != exitVerify || !strings.Contains(stderr, "unsafe name") || strings.Count(stderr, "mlink:") != 1 {
			t.Errorf("%s: exit %d, %q; want 3 and one unsafe-name error", p, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("hostile names left %v", entries)
	}
	_, stderr, code := runCLI(t, "get", srv.URL+"/dir/", "-d", out, "-o", "named.bin", "--progress", "none")
	if code != exitOK {
		t.Fatalf("-o: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "named.bin")); !bytes.Equal(got, data) {
		t.Error("-o: file differs")
	}
}

// TestVerifyAndShowURL: verify and show read an http(s) SOURCE like get: a server's
// Digest is enough to verify a local copy; a server with no Metalink/HTTP at all is
// not a metalink.
func TestVerifyAndShowURL(t *testing.T) {
	data := discoverRandom(32<<10, 16)
	sum := sha256.Sum256(data)
	withDigest := mirrortest.Start(t, data, mirrortest.Path("/f.bin"),
		mirrortest.Header("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":"))
	bare := mirrortest.Start(t, data, mirrortest.Path("/f.bin"))
	local := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(local, data, 0o644)
	if _, stderr, code := runCLI(t, "verify", withDigest.URL(), local); code != exitOK {
		t.Errorf("verify against the digest: exit %d: %s", code, stderr)
	}
	data[100] ^= 1
	os.WriteFile(local, data, 0o644)
	if _, _, code := runCLI(t, "verify", withDigest.URL(), local); code != exitVerify {
		t.Errorf("verify a changed copy: exit %d, want 3", code)
	}
	if _, stderr, code := runCLI(t, "verify", bare.URL(), local); code != exitVerify || !strings.Contains(stderr, "published no Metalink/HTTP") {
		t.Errorf("verify against a bare server: exit %d: %s", code, stderr)
	}
	if out, stderr, code := runCLI(t, "show", withDigest.URL()); code != exitOK || !strings.Contains(out, "f.bin") {
		t.Errorf("show URL: exit %d: %s %s", code, out, stderr)
	}
}

// TestGetWeakDigest: a server whose only digest is md5 gets the weak-hash policy of
// metalinks: a warning, or a refusal with --require-strong-hash.
func TestGetWeakDigest(t *testing.T) {
	data := discoverRandom(32<<10, 17)
	h := md5.Sum(data)
	srv := mirrortest.Start(t, data, mirrortest.Header("Digest", "MD5="+base64.StdEncoding.EncodeToString(h[:])))
	out := t.TempDir()
	if _, stderr, code := runCLI(t, "get", srv.URL(), "-d", out, "--require-strong-hash", "--progress", "none"); code != exitVerify {
		t.Errorf("--require-strong-hash: exit %d, want 3: %s", code, stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("refused download left %v", entries)
	}
	_, stderr, code := runCLI(t, "get", srv.URL(), "-d", out, "--progress", "plain")
	if code != exitOK || !strings.Contains(stderr, "weak") || !strings.Contains(stderr, "md5 digest") {
		t.Errorf("md5 only: exit %d: %s", code, stderr)
	}
}
