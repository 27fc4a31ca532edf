package publish

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Interop (issue 4 item 7): real peers download from the Handler.

// svLookPath finds an external program or skips the test.
func svLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: interop test skipped (CI installs it)", name)
	}
	return p
}

// svRun runs a program with a deadline and fails the test on error.
func svRun(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "http_proxy=", "https_proxy=", "HTTP_PROXY=", "HTTPS_PROXY=", "no_proxy=*")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// svCounter counts GET requests that reached a server, by path.
type svCounter struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int
}

func (c *svCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		c.mu.Lock()
		c.n[r.URL.Path]++
		c.mu.Unlock()
	}
	c.h.ServeHTTP(w, r)
}

func (c *svCounter) count(p string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[p]
}

// svServeOn starts h on ip (a loopback address such as 127.0.0.2), so that
// peers that limit connections per host name see distinct hosts.
func svServeOn(t *testing.T, ip string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func svCheckFile(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, differs from the served %d bytes", p, len(got), len(want))
	}
}

func TestServeInteropAria2(t *testing.T) {
	aria2c := svLookPath(t, "aria2c")
	data := svContent(5<<20 + 4321)
	dir := svTree(t, map[string][]byte{"pub/app.iso": data})
	_, ts := svStart(t, dir, HandlerOptions{})
	base := []string{"--no-conf", "--quiet=true", "--allow-overwrite=true", "--auto-file-renaming=false",
		"--file-allocation=none", "--max-tries=2", "--retry-wait=1", "--connect-timeout=10", "--timeout=20"}

	t.Run("plain URL", func(t *testing.T) {
		out := t.TempDir()
		svRun(t, out, aria2c, append(base, "--split=4", "--min-split-size=1M", "--dir", out, ts.URL+"/pub/app.iso")...)
		svCheckFile(t, filepath.Join(out, "app.iso"), data)
	})
	t.Run("meta4 URL", func(t *testing.T) {
		out := t.TempDir()
		svRun(t, out, aria2c, append(base, "--follow-metalink=true", "--dir", out, ts.URL+"/pub/app.iso.meta4")...)
		svCheckFile(t, filepath.Join(out, "app.iso"), data)
	})
	t.Run("plain URL uses the Link mirrors", func(t *testing.T) {
		// Two mirrors serving the same tree on their own loopback addresses.
		m1 := &svCounter{h: mustHandler(t, dir), n: map[string]int{}}
		m2 := &svCounter{h: mustHandler(t, dir), n: map[string]int{}}
		s1 := svServeOn(t, "127.0.0.2", m1)
		s2 := svServeOn(t, "127.0.0.3", m2)
		origin := &svCounter{n: map[string]int{}}
		origin.h = mustHandlerOpts(t, dir, HandlerOptions{Mirrors: []Mirror{{URL: s1.URL + "/", Priority: 1}, {URL: s2.URL + "/", Priority: 2}}})
		so := svServeOn(t, "127.0.0.1", origin)
		out := t.TempDir()
		svRun(t, out, aria2c, append(base, "--split=6", "--min-split-size=1M", "--max-connection-per-server=2",
			"--dir", out, so.URL+"/pub/app.iso")...)
		svCheckFile(t, filepath.Join(out, "app.iso"), data)
		n1, n2, no := m1.count("/pub/app.iso"), m2.count("/pub/app.iso"), origin.count("/pub/app.iso")
		t.Logf("GET requests: origin %d, mirror 1 %d, mirror 2 %d", no, n1, n2)
		if n1 == 0 || n2 == 0 {
			t.Errorf("aria2c did not use both mirrors from the Link headers: origin %d, mirror 1 %d, mirror 2 %d requests", no, n1, n2)
		}
	})
}

func mustHandler(t *testing.T, dir string) *Handler { return mustHandlerOpts(t, dir, HandlerOptions{}) }

func mustHandlerOpts(t *testing.T, dir string, opts HandlerOptions) *Handler {
	t.Helper()
	h, err := NewHandler(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestServeInteropWget2(t *testing.T) {
	wget2 := svLookPath(t, "wget2")
	data := svContent(3<<20 + 77)
	dir := svTree(t, map[string][]byte{"app.tar.gz": data})
	_, ts := svStart(t, dir, HandlerOptions{})
	base := []string{"--no-config", "--quiet", "--no-robots", "--tries=2", "--timeout=20"}

	t.Run("plain URL", func(t *testing.T) {
		out := t.TempDir()
		svRun(t, out, wget2, append(base, "-O", "app.tar.gz", ts.URL+"/app.tar.gz")...)
		svCheckFile(t, filepath.Join(out, "app.tar.gz"), data)
	})
	t.Run("meta4 URL", func(t *testing.T) {
		out := t.TempDir()
		svRun(t, out, wget2, append(base, "--metalink", ts.URL+"/app.tar.gz.meta4")...)
		svCheckFile(t, filepath.Join(out, "app.tar.gz"), data)
	})
}

// svCutWriter aborts the response (and the connection) after limit body bytes:
// a download interrupted by the network.
type svCutWriter struct {
	http.ResponseWriter
	limit int
}

func (w *svCutWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		w.ResponseWriter.Write(p[:w.limit])
		w.limit = 0
		http.NewResponseController(w.ResponseWriter).Flush()
		panic(http.ErrAbortHandler)
	}
	w.limit -= len(p)
	return w.ResponseWriter.Write(p)
}

// TestServeInteropCurlResume: a curl download cut off by the network is
// resumed with curl -C - (a Range request from the partial file's length).
func TestServeInteropCurlResume(t *testing.T) {
	curl := svLookPath(t, "curl")
	data := svContent(4 << 20)
	dir := svTree(t, map[string][]byte{"big.bin": data})
	h := mustHandler(t, dir)
	const cut = 1<<20 + 123
	var mu sync.Mutex
	var ranges []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		if first {
			w = &svCutWriter{ResponseWriter: w, limit: cut}
		}
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	out := t.TempDir()
	dst := filepath.Join(out, "big.bin")

	// The first run ends with curl's "transfer closed with N bytes remaining" (exit 18).
	first := exec.Command(curl, "--silent", "-o", dst, ts.URL+"/big.bin")
	err := first.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 18 {
		t.Fatalf("first curl run: %v, want exit status 18 (partial file)", err)
	}
	st, err := os.Stat(dst)
	if err != nil || st.Size() != cut {
		t.Fatalf("partial file: %v, want %d bytes", err, cut)
	}

	svRun(t, out, curl, "--silent", "--show-error", "--fail", "-C", "-", "-o", dst, ts.URL+"/big.bin")
	svCheckFile(t, dst, data)
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) != 2 || ranges[1] != "bytes="+strconv.Itoa(cut)+"-" {
		t.Errorf("requests' Range fields %q, want the resume from %d", ranges, cut)
	}
}
