package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pushTestFile writes n random bytes to a temp file and returns its path and content.
func pushTestFile(t testing.TB, n int) (string, []byte) {
	t.Helper()
	data := uploadRandom(n)
	p := filepath.Join(t.TempDir(), "artifact.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func pushFast(o PushOptions) PushOptions {
	if o.Token == "" {
		o.Token = uploadTestToken
	}
	if o.RetryWait == 0 {
		o.RetryWait = time.Millisecond
	}
	return o
}

func pushWantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("published file: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("published file differs from the pushed one (%d vs %d bytes)", len(got), len(want))
	}
}

func TestPushUploadsAndVerifies(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	file, data := pushTestFile(t, 300<<10+123)
	var last PushProgress
	res, err := Push(context.Background(), srv.Client(), file, srv.URL+"/rel/artifact.bin",
		pushFast(PushOptions{ChunkSize: 64 << 10, Progress: func(p PushProgress) { last = p }}))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	pushWantFile(t, filepath.Join(dir, "rel/artifact.bin"), data)
	if res.BytesSent != int64(len(data)) || res.ResumedFrom != 0 || res.AlreadyPresent || res.Retries != 0 {
		t.Errorf("result %+v: want every byte sent once, no resume, no retry", res)
	}
	if res.Requests != 1+5 { // status query, 5 chunks, no HEAD needed
		t.Errorf("Requests = %d, want 6", res.Requests)
	}
	if !strings.Contains(res.Verified, "repr-digest") {
		t.Errorf("Verified = %q, want the 201's repr-digest", res.Verified)
	}
	if last.Offset != int64(len(data)) {
		t.Errorf("last progress %+v, want offset %d", last, len(data))
	}

	// Again: the server has it; nothing is sent.
	res, err = Push(context.Background(), srv.Client(), file, srv.URL+"/rel/artifact.bin", pushFast(PushOptions{}))
	if err != nil || !res.AlreadyPresent || res.BytesSent != 0 {
		t.Fatalf("second push: %+v, %v; want AlreadyPresent with nothing sent", res, err)
	}
	// A different file under the same name: refused, nothing replaced.
	other, _ := pushTestFile(t, 1000)
	_, err = Push(context.Background(), srv.Client(), other, srv.URL+"/rel/artifact.bin", pushFast(PushOptions{}))
	if !errors.Is(err, ErrPushExists) {
		t.Fatalf("push over a different file: %v, want ErrPushExists", err)
	}
	pushWantFile(t, filepath.Join(dir, "rel/artifact.bin"), data)
	// A directory, or a path through a file: refused at once, not retried.
	for _, p := range []string{"/rel", "/rel/artifact.bin/under"} {
		res, err = Push(context.Background(), srv.Client(), other, srv.URL+p, pushFast(PushOptions{}))
		if !errors.Is(err, ErrPushExists) || res.Retries != 0 {
			t.Errorf("push to %s: %v after %d retries, want ErrPushExists at once", p, err, res.Retries)
		}
	}

	// An empty file.
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Push(context.Background(), srv.Client(), empty, srv.URL+"/empty", pushFast(PushOptions{})); err != nil {
		t.Fatalf("push of an empty file: %v", err)
	}
	pushWantFile(t, filepath.Join(dir, "empty"), nil)
}

func TestPushKnownSHA256(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	file, data := pushTestFile(t, 70000)
	sum := sha256.Sum256(data)
	res, err := Push(context.Background(), srv.Client(), file, srv.URL+"/k.bin", pushFast(PushOptions{SHA256: hex.EncodeToString(sum[:]), ChunkSize: 32 << 10}))
	if err != nil || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("Push with a known digest: %+v, %v", res, err)
	}
	pushWantFile(t, filepath.Join(dir, "k.bin"), data)
	// A wrong known digest: the server refuses, nothing is published.
	wrong := sha256.Sum256([]byte("something else"))
	_, err = Push(context.Background(), srv.Client(), file, srv.URL+"/w.bin", pushFast(PushOptions{SHA256: hex.EncodeToString(wrong[:])}))
	if !errors.Is(err, ErrPushMismatch) {
		t.Fatalf("Push with a wrong digest: %v, want ErrPushMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "w.bin")); !os.IsNotExist(err) {
		t.Fatal("an upload with a wrong declared digest was published")
	}
	if _, err := Push(context.Background(), srv.Client(), file, srv.URL+"/x.bin", pushFast(PushOptions{SHA256: "ABC"})); !errors.Is(err, ErrPushRefused) {
		t.Fatalf("malformed SHA256 option: %v", err)
	}
}

func TestPushRefusals(t *testing.T) {
	_, srv, dir := uploadTestServer(t, "", UploadOptions{MaxSize: 1000})
	file, _ := pushTestFile(t, 2000)
	small, _ := pushTestFile(t, 500)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		file  string
		token string
		want  error
	}{
		{"missing token", small, "-", ErrPushAuth},
		{"wrong token", small, "wrong-token-0123456789", ErrPushAuth},
		{"too large", file, "", ErrPushTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := pushFast(PushOptions{Token: tc.token})
			if tc.token == "-" {
				o.Token = ""
			}
			res, err := Push(ctx, srv.Client(), tc.file, srv.URL+"/x.bin", o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Push: %v, want %v", err, tc.want)
			}
			if res.Retries != 0 {
				t.Errorf("a final refusal was retried %d times", res.Retries)
			}
			if strings.Contains(err.Error(), uploadTestToken) || (tc.token != "-" && tc.token != "" && strings.Contains(err.Error(), tc.token)) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.bin")); !os.IsNotExist(err) {
		t.Fatal("a refused push published a file")
	}
}

// pushCorrupter flips one byte of request bodies at absolute upload offset at.
func pushCorrupter(h http.Handler, at int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cr := r.Header.Get("Content-Range"); strings.HasPrefix(cr, "bytes ") && !strings.HasPrefix(cr, "bytes *") {
			first, _ := strconv.ParseInt(strings.Split(strings.TrimPrefix(cr, "bytes "), "-")[0], 10, 64)
			r.Body = &pushFlipper{r: r.Body, pos: first, at: at}
		}
		h.ServeHTTP(w, r)
	})
}

type pushFlipper struct {
	r       io.ReadCloser
	pos, at int64
}

func (f *pushFlipper) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		b[f.at-f.pos] ^= 0x55
	}
	f.pos += int64(n)
	return n, err
}
func (f *pushFlipper) Close() error { return f.r.Close() }

func TestPushCorruptedInTransitIsNotPublished(t *testing.T) {
	dir := t.TempDir()
	h, err := NewUploadHandler(dir, UploadOptions{Token: uploadTestToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pushCorrupter(h, 70000))
	t.Cleanup(func() { srv.Close(); h.Close() })
	file, _ := pushTestFile(t, 100000)
	_, err = Push(context.Background(), srv.Client(), file, srv.URL+"/c.bin", pushFast(PushOptions{ChunkSize: 32 << 10}))
	if !errors.Is(err, ErrPushMismatch) {
		t.Fatalf("Push through a corrupting proxy: %v, want ErrPushMismatch", err)
	}
	var pe *PushError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnprocessableEntity {
		t.Errorf("error %v: want a *PushError with status 422", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.bin")); !os.IsNotExist(err) {
		t.Fatal("corrupted upload was published")
	}
}

// pushCutProxy forwards TCP connections to target and cuts the connection that
// carries the client's byte number cuts[i] (counted over all connections).
type pushCutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	sent   int64
	cuts   []int64
	nCut   int
	wg     sync.WaitGroup
}

func newPushCutProxy(t *testing.T, target string, cuts []int64) *pushCutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pushCutProxy{ln: ln, target: target, cuts: cuts}
	p.wg.Go(p.accept)
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *pushCutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *pushCutProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	p.wg.Go(func() { io.Copy(c, up); c.Close() })
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			cut := false
			if p.nCut < len(p.cuts) && p.sent+int64(n) > p.cuts[p.nCut] {
				n = int(p.cuts[p.nCut] - p.sent)
				p.nCut++
				cut = true
			}
			p.sent += int64(n)
			p.mu.Unlock()
			up.Write(buf[:n])
			if cut {
				return // both sides close: the client sees a broken connection
			}
		}
		if err != nil {
			return
		}
	}
}

func TestPushResumesAfterConnectionCuts(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			_, srv, dir := uploadTestServer(t, "", UploadOptions{})
			file, data := pushTestFile(t, 512<<10+77)
			rng := rand.New(rand.NewPCG(seed, 99))
			var cuts []int64
			at := int64(0)
			for range 4 {
				at += 1 + rng.Int64N(int64(len(data))/3)
				cuts = append(cuts, at)
			}
			px := newPushCutProxy(t, srv.Listener.Addr().String(), cuts)
			client := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(client.CloseIdleConnections)
			res, err := Push(context.Background(), client, file, "http://"+px.ln.Addr().String()+"/cut.bin",
				pushFast(PushOptions{ChunkSize: 48 << 10}))
			if err != nil {
				t.Fatalf("Push through cuts at %v: %v", cuts, err)
			}
			pushWantFile(t, filepath.Join(dir, "cut.bin"), data)
			px.mu.Lock()
			nCut := px.nCut
			px.mu.Unlock()
			if nCut == 0 || res.Retries < 1 {
				t.Fatalf("no cut happened (cuts %d, retries %d): the test tests nothing", nCut, res.Retries)
			}
			if res.BytesSent >= 2*int64(len(data)) {
				t.Errorf("sent %d bytes for a %d-byte file: resume is not resuming", res.BytesSent, len(data))
			}
		})
	}
}

// pushSwitch is a handler whose upload handler can be replaced (a server restart).
type pushSwitch struct {
	mu       sync.Mutex
	h        http.Handler
	requests int
	onReq    func(n int)
}

func (s *pushSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	if s.onReq != nil {
		s.onReq(s.requests)
	}
	h := s.h
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

func TestPushAcrossServerRestartWithDataLoss(t *testing.T) {
	dir := t.TempDir()
	h1, err := NewUploadHandler(dir, UploadOptions{Token: uploadTestToken})
	if err != nil {
		t.Fatal(err)
	}
	sw := &pushSwitch{h: h1}
	var handlers []*UploadHandler
	sw.onReq = func(n int) {
		if n != 5 { // after the status query and three chunks
			return
		}
		// "Restart" the server and lose the tail of what it had received.
		sw.h.(*UploadHandler).Close()
		ents, _ := os.ReadDir(filepath.Join(dir, UploadStagingDir))
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".part") {
				os.Truncate(filepath.Join(dir, UploadStagingDir, e.Name()), 40000)
			}
		}
		h2, err := NewUploadHandler(dir, UploadOptions{Token: uploadTestToken})
		if err != nil {
			t.Error(err)
			return
		}
		handlers = append(handlers, h2)
		sw.h = h2
	}
	srv := httptest.NewServer(sw)
	t.Cleanup(func() {
		srv.Close()
		for _, h := range handlers {
			h.Close()
		}
	})
	file, data := pushTestFile(t, 200000)
	res, err := Push(context.Background(), srv.Client(), file, srv.URL+"/r.bin", pushFast(PushOptions{ChunkSize: 30000}))
	if err != nil {
		t.Fatalf("Push across a restart: %v", err)
	}
	pushWantFile(t, filepath.Join(dir, "r.bin"), data)
	// Chunks 0-89999 were received before the restart, which kept 40000 of them
	// (50000 resent); the chunk at 90000 met the restarted server and got 409
	// (30000 sent for nothing).
	if res.BytesSent != int64(len(data))+50000+30000 {
		t.Errorf("BytesSent = %d, want %d (backed up to the server's offset)", res.BytesSent, len(data)+80000)
	}
}

// pushHostile answers every PUT with a fixed status and headers.
func pushHostile(t *testing.T, status int, hdr map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPushHostileServers(t *testing.T) {
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(elsewhere.Close)
	file, _ := pushTestFile(t, 1000)
	for _, tc := range []struct {
		name   string
		status int
		hdr    map[string]string
		want   error
	}{
		{"claims more than the file", 308, map[string]string{"Range": "bytes=0-1009"}, ErrPushServerAhead},
		{"308 with Location", 308, map[string]string{"Range": "bytes=0-99", "Location": elsewhere.URL + "/x"}, ErrPushIncomplete},
		{"307 redirect", 307, map[string]string{"Location": elsewhere.URL + "/x"}, ErrPushRefused},
		{"never keeps anything", 308, nil, ErrPushIncomplete},
		{"always busy", 409, map[string]string{"Upload-Conflict": "busy"}, ErrPushIncomplete},
		{"always 503", 503, map[string]string{"Retry-After": "0"}, ErrPushIncomplete},
		{"unparsable Range", 308, map[string]string{"Range": "bytes=5-9"}, ErrPushRefused},
		{"complete without digest", 201, nil, ErrPushRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pushHostile(t, tc.status, tc.hdr)
			res, err := Push(context.Background(), srv.Client(), file, srv.URL+"/f", pushFast(PushOptions{Retries: 3, ChunkSize: 100}))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Push: %v, want %v", err, tc.want)
			}
			if res != nil && res.Requests > 20 {
				t.Errorf("%d requests: retries are not bounded", res.Requests)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("Push followed a redirect %d times", n)
	}
}

func TestPushCancelled(t *testing.T) {
	srv := pushHostile(t, 503, nil)
	file, _ := pushTestFile(t, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Push(ctx, srv.Client(), file, srv.URL+"/f", PushOptions{Token: uploadTestToken})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Push with a cancelled context: %v", err)
	}
}

// TestPushChildProcess is the child side of TestPushKilledChildResumes: it
// runs only when re-executed with MLINK_PUSH_CHILD set.
func TestPushChildProcess(t *testing.T) {
	args := os.Getenv("MLINK_PUSH_CHILD")
	if args == "" {
		t.Skip("child helper of TestPushKilledChildResumes")
	}
	file, u, _ := strings.Cut(args, "|")
	_, err := Push(context.Background(), nil, file, u, PushOptions{Token: uploadTestToken, ChunkSize: 64 << 10})
	fmt.Fprintln(os.Stderr, "child push ended:", err)
	os.Exit(0)
}

// pushPauser holds the request body once the server has received more than
// at bytes in total, tells the test, and waits for it.
type pushPauser struct {
	h        http.Handler
	at       int64
	got      atomic.Int64
	once     sync.Once
	reached  chan struct{}
	released chan struct{}
}

func (p *pushPauser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = &pushPauseBody{r: r.Body, p: p}
	p.h.ServeHTTP(w, r)
}

type pushPauseBody struct {
	r io.ReadCloser
	p *pushPauser
}

func (b *pushPauseBody) Read(buf []byte) (int, error) {
	n, err := b.r.Read(buf)
	if b.p.got.Add(int64(n)) > b.p.at {
		b.p.once.Do(func() { close(b.p.reached) })
		<-b.p.released
	}
	return n, err
}
func (b *pushPauseBody) Close() error { return b.r.Close() }

func TestPushKilledChildResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	h, err := NewUploadHandler(dir, UploadOptions{Token: uploadTestToken})
	if err != nil {
		t.Fatal(err)
	}
	file, data := pushTestFile(t, 1<<20+4321)
	at := 1 + rand.Int64N(int64(len(data))-2)
	pz := &pushPauser{h: h, at: at, reached: make(chan struct{}), released: make(chan struct{})}
	srv := httptest.NewServer(pz)
	t.Cleanup(func() { srv.Close(); h.Close() })

	cmd := exec.Command(os.Args[0], "-test.run=^TestPushChildProcess$")
	cmd.Env = append(os.Environ(), "MLINK_PUSH_CHILD="+file+"|"+srv.URL+"/k.bin")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-pz.reached:
	case err := <-exited:
		close(pz.released)
		t.Fatalf("child ended before the server received %d bytes: %v\n%s", at, err, stderr.String())
	case <-time.After(2 * time.Minute):
		close(pz.released)
		cmd.Process.Kill()
		<-exited
		t.Fatal("child made no progress")
	}
	cmd.Process.Kill() // SIGKILL mid-chunk
	<-exited
	close(pz.released)

	res, err := Push(context.Background(), srv.Client(), file, srv.URL+"/k.bin", pushFast(PushOptions{ChunkSize: 64 << 10}))
	if err != nil {
		t.Fatalf("resumed push after killing the child at byte %d: %v", at, err)
	}
	pushWantFile(t, filepath.Join(dir, "k.bin"), data)
	if res.ResumedFrom < at || res.ResumedFrom >= int64(len(data)) {
		t.Errorf("resumed from %d although the server had received more than %d bytes", res.ResumedFrom, at)
	}
	if res.BytesSent != int64(len(data))-res.ResumedFrom {
		t.Errorf("sent %d bytes after resuming from %d of %d: bytes the server had were resent", res.BytesSent, res.ResumedFrom, len(data))
	}
	t.Logf("child killed after the server read %d bytes; resumed from %d, sent %d", at, res.ResumedFrom, res.BytesSent)
}

// BenchmarkPush pushes a 64 MiB file in 8 MiB chunks to an httptest
// UploadHandler; compare with BenchmarkUploadSinglePUT (one plain PUT of the
// same file to the same handler, what curl -T does).
func BenchmarkPush(b *testing.B) {
	const size = 64 << 20
	_, srv, file := pushBenchSetup(b, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Push(context.Background(), srv.Client(), file, srv.URL+"/bench.bin", PushOptions{Token: uploadTestToken}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUploadSinglePUT(b *testing.B) {
	const size = 64 << 20
	_, srv, file := pushBenchSetup(b, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest("PUT", srv.URL+"/bench.bin", f)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+uploadTestToken)
		resp, err := srv.Client().Do(req)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func pushBenchSetup(b *testing.B, size int) (*UploadHandler, *httptest.Server, string) {
	dir := b.TempDir()
	h, err := NewUploadHandler(dir, UploadOptions{Token: uploadTestToken, Overwrite: true})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(func() { srv.Close(); h.Close() })
	file, _ := pushTestFile(b, size)
	return h, srv, file
}

func FuzzPushParseReceived(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=0-", "bytes=5-9", "bytes=0-+1", "bytes=0-9223372036854775807", "bytes=0-00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := pushParseReceived(s)
		if ok && (n < 1 || !strings.HasPrefix(s, "bytes=0-")) {
			t.Fatalf("pushParseReceived(%q) = %d, true", s, n)
		}
	})
}

// TestPushToServingHandler pushes through UploadHandler.Mount in front of the
// serving Handler (what mlink serve does): the staged partial is invisible to
// GET, and the final check can use the served file.
func TestPushToServingHandler(t *testing.T) {
	dir := t.TempDir()
	serving, err := NewHandler(dir, HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serving.Close() })
	up, err := NewUploadHandler(dir, UploadOptions{Token: uploadTestToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(up.Mount(serving))
	t.Cleanup(func() { srv.Close(); up.Close() })

	// A partial upload is not served.
	uploadWant(t, "chunk", uploadDo(t, srv, "PUT", "/s.bin", uploadTestToken, map[string]string{"Content-Range": uploadRange(0, 9, 100)}, make([]byte, 10)), 308, "bytes=0-9")
	for _, p := range []string{"/s.bin", "/" + UploadStagingDir + "/", "/" + UploadStagingDir + "/" + uploadKey("s.bin") + ".part"} {
		if r := uploadDo(t, srv, "GET", p, "", nil, nil); r.status < 400 {
			t.Errorf("GET %s of a partial upload: %d", p, r.status)
		}
	}
	file, data := pushTestFile(t, 150000)
	res, err := Push(context.Background(), srv.Client(), file, srv.URL+"/dir/s2.bin", pushFast(PushOptions{ChunkSize: 64 << 10, ReadBack: true}))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	pushWantFile(t, filepath.Join(dir, "dir/s2.bin"), data)
	if !strings.Contains(res.Verified, "repr-digest") || !strings.Contains(res.Verified, "ranged read-back") {
		t.Errorf("Verified = %q, want the 201 digest and a read-back through the serving handler", res.Verified)
	}
	t.Logf("verified by %s", res.Verified)
}
