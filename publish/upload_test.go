package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const uploadTestToken = "test-token-0123456789abcdef"

// uploadTestServer starts an UploadHandler on dir (a fresh temp dir when "")
// behind a real httptest server; both are closed by t.Cleanup.
func uploadTestServer(t *testing.T, dir string, opts UploadOptions) (*UploadHandler, *httptest.Server, string) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if opts.Token == "" {
		opts.Token = uploadTestToken
	}
	h, err := NewUploadHandler(dir, opts)
	if err != nil {
		t.Fatalf("NewUploadHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return h, srv, dir
}

type uploadResp struct {
	status int
	header http.Header
	body   string
}

// uploadDo sends one request; hdr values "" are dropped. token "" sends no
// Authorization header.
func uploadDo(t *testing.T, srv *httptest.Server, method, p, token string, hdr map[string]string, body []byte) uploadResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+p, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body == nil && method == http.MethodPut {
		req.ContentLength = 0
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, p, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return uploadResp{resp.StatusCode, resp.Header, string(b)}
}

func uploadRange(a, b, total int64) string { return fmt.Sprintf("bytes %d-%d/%d", a, b, total) }
func uploadStatusRange(total int64) string { return fmt.Sprintf("bytes */%d", total) }

func uploadDigestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

func uploadRandom(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// uploadStaged lists the files in the staging directory.
func uploadStaged(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, UploadStagingDir))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// uploadStagedSize is the size of the one .part file staged in dir (-1: none).
func uploadStagedSize(t *testing.T, dir string) int64 {
	t.Helper()
	for _, n := range uploadStaged(t, dir) {
		if strings.HasSuffix(n, ".part") {
			if fi, err := os.Stat(filepath.Join(dir, UploadStagingDir, n)); err == nil {
				return fi.Size()
			}
		}
	}
	return -1
}

func uploadWant(t *testing.T, what string, got uploadResp, status int, rng string) {
	t.Helper()
	if got.status != status {
		t.Fatalf("%s: status %d (body %q), want %d", what, got.status, got.body, status)
	}
	if r := got.header.Get("Range"); r != rng {
		t.Fatalf("%s: Range %q, want %q", what, r, rng)
	}
}

func TestUploadChunkedProtocol(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	data := uploadRandom(1000)
	total := int64(len(data))
	q := map[string]string{"Content-Range": uploadStatusRange(total)}

	uploadWant(t, "first status query", uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken, q, nil), 308, "")
	if len(uploadStaged(t, dir)) != 0 {
		t.Fatalf("a status query staged files: %v", uploadStaged(t, dir))
	}
	uploadWant(t, "chunk 0-399", uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 399, total)}, data[:400]), 308, "bytes=0-399")
	uploadWant(t, "status after a chunk", uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken, q, nil), 308, "bytes=0-399")

	// A chunk that does not start at the received offset: 409 with the true offset, nothing written.
	r := uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(500, 599, total)}, bytes.Repeat([]byte{'X'}, 100))
	uploadWant(t, "chunk at the wrong offset", r, http.StatusConflict, "bytes=0-399")
	if r.header.Get("Upload-Offset") != "400" {
		t.Errorf("409 Upload-Offset = %q, want 400", r.header.Get("Upload-Offset"))
	}
	r = uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(200, 299, total)}, bytes.Repeat([]byte{'X'}, 100))
	uploadWant(t, "chunk overlapping received bytes", r, http.StatusConflict, "bytes=0-399")

	// TOTAL must not change.
	uploadWant(t, "changed total", uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(400, 499, total+1)}, data[400:500]), http.StatusBadRequest, "bytes=0-399")
	// Content-Length disagreeing with Content-Range.
	uploadWant(t, "short body for range", uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(400, 499, total)}, data[400:450]), http.StatusBadRequest, "")

	uploadWant(t, "chunk 400-799", uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(400, 799, total)}, data[400:800]), 308, "bytes=0-799")
	if _, err := os.Stat(filepath.Join(dir, "rel/a.bin")); !os.IsNotExist(err) {
		t.Fatalf("file visible under its name before the upload completed (stat err %v)", err)
	}
	r = uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(800, 999, total), "Repr-Digest": uploadDigestOf(data)}, data[800:])
	uploadWant(t, "last chunk", r, http.StatusCreated, "")
	if got, want := r.header.Get("Repr-Digest"), uploadDigestOf(data); got != want {
		t.Errorf("201 Repr-Digest %q, want %q", got, want)
	}
	got, err := os.ReadFile(filepath.Join(dir, "rel/a.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("published file differs (err %v, %d bytes)", err, len(got))
	}
	if s := uploadStaged(t, dir); len(s) != 0 {
		t.Errorf("staging not cleaned after completion: %v", s)
	}
	// The upload is done: a status query gets 200 with the digest; a new chunk gets 409 (no replace).
	r = uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken, q, nil)
	if r.status != http.StatusOK || r.header.Get("Repr-Digest") != uploadDigestOf(data) {
		t.Errorf("status query after completion: %d %q, want 200 with the file's Repr-Digest", r.status, r.header.Get("Repr-Digest"))
	}
	uploadWant(t, "re-upload over an existing file", uploadDo(t, srv, "PUT", "/rel/a.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 999, total)}, bytes.Repeat([]byte{'Z'}, 1000)), http.StatusConflict, "")
	if got, _ := os.ReadFile(filepath.Join(dir, "rel/a.bin")); !bytes.Equal(got, data) {
		t.Fatal("an existing file was replaced without Overwrite")
	}
}

func TestUploadAuth(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	hdr := map[string]string{"Content-Range": uploadRange(0, 9, 10)}
	r := uploadDo(t, srv, "PUT", "/f", "", hdr, []byte("0123456789"))
	uploadWant(t, "missing token", r, http.StatusUnauthorized, "")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
	}
	uploadWant(t, "wrong token", uploadDo(t, srv, "PUT", "/f", "test-token-0123456789abcdeX", hdr, []byte("0123456789")), http.StatusForbidden, "")
	uploadWant(t, "token prefix", uploadDo(t, srv, "PUT", "/f", uploadTestToken[:20], hdr, []byte("0123456789")), http.StatusForbidden, "")
	r = uploadDo(t, srv, "PUT", "/f", "", map[string]string{"Content-Range": uploadRange(0, 9, 10), "Authorization": "Basic " + uploadTestToken}, []byte("0123456789"))
	uploadWant(t, "basic auth", r, http.StatusUnauthorized, "")
	if strings.Contains(r.body, uploadTestToken) {
		t.Error("the token appears in an answer")
	}
	if s := uploadStaged(t, dir); len(s) != 0 {
		t.Errorf("unauthorized requests staged %v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !os.IsNotExist(err) {
		t.Error("an unauthorized upload was published")
	}
	uploadWant(t, "GET", uploadDo(t, srv, "GET", "/f", uploadTestToken, nil, nil), http.StatusMethodNotAllowed, "")
	if _, err := NewUploadHandler(dir, UploadOptions{Token: "short"}); err == nil {
		t.Error("NewUploadHandler accepted a 5-byte token")
	}
}

func TestUploadMount(t *testing.T) {
	dir := t.TempDir()
	up, err := NewUploadHandler(dir, UploadOptions{Token: uploadTestToken})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	srv := httptest.NewServer(up.Mount(http.FileServer(http.Dir(dir))))
	defer srv.Close()
	uploadWant(t, "PUT", uploadDo(t, srv, "PUT", "/m.txt", uploadTestToken, nil, []byte("mounted")), http.StatusCreated, "")
	if r := uploadDo(t, srv, "GET", "/m.txt", "", nil, nil); r.status != 200 || r.body != "mounted" {
		t.Fatalf("GET after PUT: %d %q", r.status, r.body)
	}
}

func TestReadUploadToken(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(f, []byte("  "+uploadTestToken+"\n"), 0o600)
	if tok, err := ReadUploadToken(f); err != nil || tok != uploadTestToken {
		t.Fatalf("ReadUploadToken = %q, %v", tok, err)
	}
	os.WriteFile(f, []byte("abc\n"), 0o600)
	if _, err := ReadUploadToken(f); err == nil {
		t.Fatal("a 3-byte token was accepted")
	}
}

func TestUploadConcurrentWriters(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	data := uploadRandom(300)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", srv.URL+"/c.bin", pr)
	req.ContentLength = 200
	req.Header.Set("Authorization", "Bearer "+uploadTestToken)
	req.Header.Set("Content-Range", uploadRange(0, 199, 300))
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("first writer: %v", err)
		}
		done <- resp
	}()
	pw.Write(data[:100])
	// Wait (synchronisation, not a timing assertion) until the first writer's bytes have landed.
	part := ""
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s := uploadStaged(t, dir); len(s) > 0 {
			for _, n := range s {
				if strings.HasSuffix(n, ".part") {
					part = filepath.Join(dir, UploadStagingDir, n)
				}
			}
			if fi, err := os.Stat(part); err == nil && fi.Size() == 100 {
				break
			}
		}
	}
	// The second writer is refused while the first holds the upload; so is a status query.
	r := uploadDo(t, srv, "PUT", "/c.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(0, 199, 300)}, bytes.Repeat([]byte{'X'}, 200))
	uploadWant(t, "second writer", r, http.StatusConflict, "")
	r = uploadDo(t, srv, "PUT", "/c.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(100, 199, 300)}, bytes.Repeat([]byte{'X'}, 100))
	uploadWant(t, "second writer at the live offset", r, http.StatusConflict, "")
	pw.Write(data[100:200])
	pw.Close()
	resp := <-done
	if resp == nil {
		t.FailNow()
	}
	resp.Body.Close()
	if resp.StatusCode != 308 || resp.Header.Get("Range") != "bytes=0-199" {
		t.Fatalf("first writer got %d %q, want 308 bytes=0-199", resp.StatusCode, resp.Header.Get("Range"))
	}
	r = uploadDo(t, srv, "PUT", "/c.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(200, 299, 300), "Repr-Digest": uploadDigestOf(data)}, data[200:])
	uploadWant(t, "last chunk", r, http.StatusCreated, "")
	if got, _ := os.ReadFile(filepath.Join(dir, "c.bin")); !bytes.Equal(got, data) {
		t.Fatal("bytes of the refused writer were interleaved into the file")
	}
}

func TestUploadDigestMismatchPublishesNothing(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	data := uploadRandom(100)
	other := append([]byte(nil), data...)
	other[50] ^= 1
	uploadWant(t, "chunk", uploadDo(t, srv, "PUT", "/m.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 49, 100)}, data[:50]), 308, "bytes=0-49")
	r := uploadDo(t, srv, "PUT", "/m.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(50, 99, 100), "Digest": "SHA-256=" + strings.TrimSuffix(strings.TrimPrefix(uploadDigestOf(other), "sha-256=:"), ":")}, data[50:])
	uploadWant(t, "last chunk with a wrong digest", r, http.StatusUnprocessableEntity, "")
	if !strings.Contains(r.body, "mismatch") || !strings.Contains(r.body, "nothing was published") {
		t.Errorf("422 body does not explain: %q", r.body)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.bin")); !os.IsNotExist(err) {
		t.Fatal("a file whose sha-256 did not match was published")
	}
	if s := uploadStaged(t, dir); len(s) != 0 {
		t.Errorf("mismatched upload left staged files %v", s)
	}
	uploadWant(t, "status after mismatch", uploadDo(t, srv, "PUT", "/m.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadStatusRange(100)}, nil), 308, "")
	// A malformed digest is refused before anything is written.
	uploadWant(t, "malformed Repr-Digest", uploadDo(t, srv, "PUT", "/m.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 99, 100), "Repr-Digest": "sha-256=:AAAA:"}, data), http.StatusBadRequest, "")
	// A declared digest may not change during an upload.
	uploadDo(t, srv, "PUT", "/m.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(0, 49, 100), "Repr-Digest": uploadDigestOf(data)}, data[:50])
	uploadWant(t, "changed digest", uploadDo(t, srv, "PUT", "/m.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(50, 99, 100), "Repr-Digest": uploadDigestOf(other)}, data[50:]), http.StatusBadRequest, "bytes=0-49")
}

func TestUploadTooLarge(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{MaxSize: 100})
	uploadWant(t, "chunked over the limit", uploadDo(t, srv, "PUT", "/big", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 9, 101)}, make([]byte, 10)), http.StatusRequestEntityTooLarge, "")
	uploadWant(t, "status query over the limit", uploadDo(t, srv, "PUT", "/big", uploadTestToken,
		map[string]string{"Content-Range": uploadStatusRange(1 << 40)}, nil), http.StatusRequestEntityTooLarge, "")
	uploadWant(t, "whole PUT over the limit", uploadDo(t, srv, "PUT", "/big", uploadTestToken, nil, make([]byte, 101)), http.StatusRequestEntityTooLarge, "")
	uploadWant(t, "at the limit", uploadDo(t, srv, "PUT", "/ok", uploadTestToken, nil, make([]byte, 100)), http.StatusCreated, "")
	if _, err := os.Stat(filepath.Join(dir, "big")); !os.IsNotExist(err) {
		t.Fatal("an upload over the limit was published")
	}
	if s := uploadStaged(t, dir); len(s) != 0 {
		t.Errorf("refused uploads staged %v", s)
	}
}

func TestUploadPathsStayUnderDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "root")
	os.Mkdir(dir, 0o755)
	outside := filepath.Join(parent, "outside")
	os.Mkdir(outside, 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	_, srv, _ := uploadTestServer(t, dir, UploadOptions{})
	for _, p := range []string{
		"/../escape", "/%2e%2e/escape", "/a/../../escape", "/link/escape", "/link/sub/escape",
		"/.mlink-uploads/x.part", "/.hidden", "/dir/", "/", "/a//b", "/file/under-a-file", "/a%5cb", "/con.txt",
	} {
		t.Run(p, func(t *testing.T) {
			data := []byte("payload")
			r := uploadDo(t, srv, "PUT", p, uploadTestToken, map[string]string{"Repr-Digest": uploadDigestOf(data)}, data)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("PUT %s: status %d (%q), want a 4xx", p, r.status, r.body)
			}
			if strings.Contains(r.body, parent) {
				t.Errorf("answer leaks the server's directory: %q", r.body)
			}
		})
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("an upload escaped DIR: %v", ents)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 2 {
		t.Fatalf("something was written beside DIR: %v", ents)
	}
}

func TestUploadResumesAcrossServerRestart(t *testing.T) {
	dir := t.TempDir()
	data := uploadRandom(5000)
	h1, srv1, _ := uploadTestServer(t, dir, UploadOptions{})
	uploadWant(t, "chunk", uploadDo(t, srv1, "PUT", "/d/r.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 2999, 5000)}, data[:3000]), 308, "bytes=0-2999")
	srv1.Close()
	h1.Close()

	_, srv2, _ := uploadTestServer(t, dir, UploadOptions{})
	uploadWant(t, "status after restart", uploadDo(t, srv2, "PUT", "/d/r.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadStatusRange(5000)}, nil), 308, "bytes=0-2999")
	uploadWant(t, "last chunk after restart", uploadDo(t, srv2, "PUT", "/d/r.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(3000, 4999, 5000), "Repr-Digest": uploadDigestOf(data)}, data[3000:]), http.StatusCreated, "")
	if got, _ := os.ReadFile(filepath.Join(dir, "d/r.bin")); !bytes.Equal(got, data) {
		t.Fatal("file differs after a restart mid-upload")
	}
}

func TestUploadInterruptedBodyKeepsReceivedBytes(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	data := uploadRandom(100)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /i.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Range: bytes 0-99/100\r\nContent-Length: 100\r\n\r\n", uploadTestToken)
	conn.Write(data[:37])
	conn.Close()
	// The server sees the cut when it reads; wait for the staged bytes (synchronisation only:
	// a status query sent meanwhile could take the upload's lock and make the cut request a 409).
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if uploadStagedSize(t, dir) == 37 {
			break
		}
	}
	time.Sleep(10 * time.Millisecond) // let the cut request release the upload
	var r uploadResp
	for range 100 {
		r = uploadDo(t, srv, "PUT", "/i.bin", uploadTestToken, map[string]string{"Content-Range": uploadStatusRange(100)}, nil)
		if r.status != http.StatusConflict {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	uploadWant(t, "status after a cut connection", r, 308, "bytes=0-36")
	uploadWant(t, "resume", uploadDo(t, srv, "PUT", "/i.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(37, 99, 100), "Repr-Digest": uploadDigestOf(data)}, data[37:]), http.StatusCreated, "")
	if got, _ := os.ReadFile(filepath.Join(dir, "i.bin")); !bytes.Equal(got, data) {
		t.Fatal("file differs after a cut connection")
	}
}

func TestUploadCrashBetweenLinkAndUnlink(t *testing.T) {
	dir := t.TempDir()
	data := uploadRandom(100)
	h1, srv1, _ := uploadTestServer(t, dir, UploadOptions{})
	uploadWant(t, "chunk", uploadDo(t, srv1, "PUT", "/z.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 49, 100)}, data[:50]), 308, "bytes=0-49")
	srv1.Close()
	h1.Close()
	// Simulate a crash after the last bytes landed and the hard link was made,
	// but before the staged name was removed.
	var part string
	for _, n := range uploadStaged(t, dir) {
		if strings.HasSuffix(n, ".part") {
			part = filepath.Join(dir, UploadStagingDir, n)
		}
	}
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data[50:])
	f.Close()
	if err := os.Link(part, filepath.Join(dir, "z.bin")); err != nil {
		t.Skip("no hard links here:", err)
	}
	_, srv2, _ := uploadTestServer(t, dir, UploadOptions{})
	uploadWant(t, "status query after the crash", uploadDo(t, srv2, "PUT", "/z.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadStatusRange(100), "Repr-Digest": uploadDigestOf(data)}, nil), http.StatusCreated, "")
	if s := uploadStaged(t, dir); len(s) != 0 {
		t.Errorf("staging not cleaned: %v", s)
	}
}

func TestUploadIdleBodyIsCut(t *testing.T) {
	_, srv, _ := uploadTestServer(t, "", UploadOptions{IdleTimeout: 100 * time.Millisecond})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /slow.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Range: bytes 0-99/100\r\nContent-Length: 100\r\n\r\n", uploadTestToken)
	conn.Write(make([]byte, 10))
	// Send nothing more: the server must give up on the body by itself (the
	// 20 s guard only keeps a broken server from hanging the test).
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	reply, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server waited for a stalled body for 20 s (slow-loris)")
	}
	if !strings.Contains(string(reply), "400") {
		t.Errorf("reply to a stalled body: %q", reply)
	}
	uploadWant(t, "status after a stalled body", uploadDo(t, srv, "PUT", "/slow.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadStatusRange(100)}, nil), 308, "bytes=0-9")
}

func TestUploadExpirySweep(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h, srv, dir := uploadTestServer(t, "", UploadOptions{Expiry: time.Hour, Now: clock})
	uploadDo(t, srv, "PUT", "/e.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(0, 9, 100)}, make([]byte, 10))
	if n, err := h.Sweep(); n != 0 || err != nil {
		t.Fatalf("Sweep of a fresh upload removed %d (%v)", n, err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if n, err := h.Sweep(); n != 1 || err != nil {
		t.Fatalf("Sweep after expiry removed %d (%v), want 1", n, err)
	}
	if s := uploadStaged(t, dir); len(s) != 0 {
		t.Errorf("expired upload left %v", s)
	}
	uploadWant(t, "status after expiry", uploadDo(t, srv, "PUT", "/e.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadStatusRange(100)}, nil), 308, "")
	// The sweep also runs on its own from requests.
	uploadDo(t, srv, "PUT", "/e.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(0, 9, 100)}, make([]byte, 10))
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	uploadDo(t, srv, "PUT", "/other", uploadTestToken, map[string]string{"Content-Range": uploadStatusRange(1)}, nil)
	if s := uploadStaged(t, dir); len(s) != 0 {
		t.Errorf("request-driven sweep left %v", s)
	}
}

func TestUploadOverwriteAndRequireDigest(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "o.bin"), []byte("old"), 0o644)
	var completed []string
	_, srv, _ := uploadTestServer(t, dir, UploadOptions{Overwrite: true, RequireDigest: true,
		OnComplete: func(name, sum string) { completed = append(completed, name+" "+sum) }})
	data := []byte("new content")
	r := uploadDo(t, srv, "PUT", "/o.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(0, int64(len(data)-1), int64(len(data)))}, data)
	uploadWant(t, "complete without digest", r, http.StatusPreconditionRequired, fmt.Sprintf("bytes=0-%d", len(data)-1))
	if got, _ := os.ReadFile(filepath.Join(dir, "o.bin")); string(got) != "old" {
		t.Fatal("published without the required digest")
	}
	r = uploadDo(t, srv, "PUT", "/o.bin", uploadTestToken, map[string]string{"Content-Range": uploadStatusRange(int64(len(data))), "Repr-Digest": uploadDigestOf(data)}, nil)
	uploadWant(t, "status query with the digest", r, http.StatusCreated, "")
	if got, _ := os.ReadFile(filepath.Join(dir, "o.bin")); !bytes.Equal(got, data) {
		t.Fatalf("Overwrite did not replace: %q", got)
	}
	sum := sha256.Sum256(data)
	if len(completed) != 1 || completed[0] != fmt.Sprintf("o.bin %x", sum) {
		t.Errorf("OnComplete calls %q", completed)
	}
}

func TestUploadWholeFileAndEmpty(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	data := uploadRandom(3000)
	uploadWant(t, "whole-file PUT", uploadDo(t, srv, "PUT", "/w.bin", uploadTestToken, map[string]string{"Repr-Digest": uploadDigestOf(data)}, data), http.StatusCreated, "")
	uploadWant(t, "empty file", uploadDo(t, srv, "PUT", "/empty", uploadTestToken, nil, nil), http.StatusCreated, "")
	if fi, err := os.Stat(filepath.Join(dir, "empty")); err != nil || fi.Size() != 0 {
		t.Fatalf("empty upload: %v", err)
	}
	// A whole-file PUT replaces an earlier partial attempt.
	uploadDo(t, srv, "PUT", "/p.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(0, 9, 3000)}, bytes.Repeat([]byte{'Q'}, 10))
	uploadWant(t, "whole PUT over a partial", uploadDo(t, srv, "PUT", "/p.bin", uploadTestToken, nil, data), http.StatusCreated, "")
	if got, _ := os.ReadFile(filepath.Join(dir, "p.bin")); !bytes.Equal(got, data) {
		t.Fatal("whole PUT over a partial mixed old bytes in")
	}
}

func TestUploadMaxPartials(t *testing.T) {
	_, srv, _ := uploadTestServer(t, "", UploadOptions{MaxPartials: 2})
	for i := range 2 {
		uploadWant(t, "partial", uploadDo(t, srv, "PUT", fmt.Sprintf("/p%d", i), uploadTestToken,
			map[string]string{"Content-Range": uploadRange(0, 0, 10)}, []byte("x")), 308, "bytes=0-0")
	}
	uploadWant(t, "third partial", uploadDo(t, srv, "PUT", "/p2", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 0, 10)}, []byte("x")), http.StatusTooManyRequests, "")
}

func FuzzUploadDeclaredSHA256(f *testing.F) {
	f.Add("sha-256=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":", "")
	f.Add("sha-512=:AAAA:, sha-256=:AAAA:", "SHA-256=AAAA")
	f.Add("", "sha-256="+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Fuzz(func(t *testing.T, repr, dig string) {
		h := http.Header{}
		if repr != "" {
			h.Set("Repr-Digest", repr)
		}
		if dig != "" {
			h.Set("Digest", dig)
		}
		sum, err := uploadDeclaredSHA256(h)
		if err == nil && sum != nil && len(sum) != 32 {
			t.Fatalf("accepted a %d-byte sha-256", len(sum))
		}
	})
}

// TestUploadBenchServer is not a test: bench/push.sh runs it (with
// MLINK_UPLOAD_BENCH_DIR and MLINK_UPLOAD_BENCH_TOKEN set) as a stand-alone
// upload server until mlink serve mounts the UploadHandler. It writes its
// address to $MLINK_UPLOAD_BENCH_DIR/.addr and serves until SIGTERM.
func TestUploadBenchServer(t *testing.T) {
	dir := os.Getenv("MLINK_UPLOAD_BENCH_DIR")
	if dir == "" {
		t.Skip("only run by bench/push.sh (MLINK_UPLOAD_BENCH_DIR unset)")
	}
	h, err := NewUploadHandler(dir, UploadOptions{Token: os.Getenv("MLINK_UPLOAD_BENCH_TOKEN")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := os.WriteFile(filepath.Join(dir, ".addr"), []byte(ln.Addr().String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		t.Fatal(err)
	}
}
