package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/httphdr"
	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// Hostile-input regressions found in the second review of the Metalink/HTTP,
// partial-resume and repair code.

// Sizes whose sum overflows int64 (each alone legal) must not wrap the free-space
// preflight into passing: ErrNoSpace before any request (SECURITY.md rule 15).
func TestPreflightSizeSumOverflow(t *testing.T) {
	m := mirrortest.Start(t, []byte("x"))
	h := []metalink.Hash{{Type: "sha-256", Value: strings.Repeat("ab", 32)}}
	ml := &metalink.Metalink{}
	for _, n := range []string{"a.bin", "b.bin"} {
		ml.Files = append(ml.Files, metalink.File{Name: n, Size: 1 << 62, Hashes: h, URLs: []metalink.URL{{URL: m.URL()}}})
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Get(ctx, ml, fastOpts(dir))
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Get = %v, want ErrNoSpace from the preflight", err)
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests made although the files cannot fit", n)
	}
}

// Discover with a caller's client that has no CheckRedirect (Go's default keeps
// Authorization on a redirect to the same host name on another port, or to a
// subdomain): the credentials of the URL still reach its origin only.
func TestDiscoverCredentialsCustomClient(t *testing.T) {
	data, digest := discoverData(3000)
	var mu sync.Mutex
	leaked := map[string]string{}
	record := func(who string, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			mu.Lock()
			leaked[who+" "+r.Method+" "+r.URL.Path] = a
			mu.Unlock()
		}
	}
	other := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		record("other", r)
		switch r.URL.Path {
		case "/f.meta4":
			w.Header().Set("Content-Type", mediaMetalink4)
			w.Write([]byte(discoverMeta4("f.bin", data, "http://127.0.0.1:1/f.bin")))
		default:
			w.Header().Set("Digest", "SHA-256="+digest)
			w.Write(data)
		}
	})
	origin := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/redirect/f.bin":
			http.Redirect(w, r, other.URL+"/f.bin", http.StatusFound)
		case "/described/f.bin":
			w.Header().Set("Link", "<"+other.URL+"/f.meta4>; rel=describedby; type=\""+mediaMetalink4+"\"")
		case "/meta/f.bin": // a HEAD answered by a redirect to the metalink elsewhere
			http.Redirect(w, r, other.URL+"/f.meta4", http.StatusFound)
		}
	})
	withUser := strings.Replace(origin.URL, "http://", "http://u:secret@", 1)
	for _, p := range []string{"/redirect/f.bin", "/described/f.bin", "/meta/f.bin"} {
		client := &http.Client{Timeout: 10 * time.Second} // no CheckRedirect
		d, err := discover(t, withUser+p, DiscoverOptions{Client: client})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(d.Metalink.Files) != 1 {
			t.Fatalf("%s: %+v", p, d.Metalink)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for k, v := range leaked {
		t.Errorf("credentials of %s reached another origin: %s got %q", origin.URL, k, v)
	}
}

// hostileMultipart answers every multi-range request with a well-formed
// multipart/byteranges body of the right bytes, but with junk framing: a part header
// or a preamble of junk bytes. Single ranges are answered normally.
func hostileMultipart(data []byte, junkHeader, preamble int) mirrortest.Option {
	return mirrortest.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rs, err := httphdr.ParseRange(r.Header.Get("Range"), int64(len(data)))
			if err != nil || len(rs) < 2 {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "multipart/byteranges; boundary=BND")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(bytes.Repeat([]byte("preamble line\r\n"), preamble/15))
			for i, rg := range rs {
				fmt.Fprintf(w, "\r\n--BND\r\nContent-Range: %s\r\n", rg.ContentRange(int64(len(data))))
				if i == 0 && junkHeader > 0 {
					fmt.Fprintf(w, "X-Junk: %s\r\n", bytes.Repeat([]byte("j"), junkHeader))
				}
				w.Write([]byte("\r\n"))
				w.Write(data[rg.Start:rg.End()])
			}
			w.Write([]byte("\r\n--BND--\r\n"))
		})
	})
}

// A repair mirror whose multipart framing is far larger than the parts' headers can
// be (a 1 MiB part header, a 1 MiB preamble) is cut off after a small framing budget
// and dropped, even though the bytes it frames are right: the client never buffers a
// hostile part header (Go's multipart reader would take up to 10 MiB of it).
func TestRepairMultipartFramingBounded(t *testing.T) {
	for _, tc := range []struct {
		name             string
		header, preamble int
	}{{"part-header", 1 << 20, 0}, {"preamble", 0, 1 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			data, f := testFile(t, "r.bin", repairTestSize, repairTestPlen, 16)
			dir := t.TempDir()
			path := filepath.Join(dir, "r.bin")
			damage(t, path, data, repairTestPlen)
			evil := mirrortest.Start(t, data, hostileMultipart(data, tc.header, tc.preamble))
			good := mirrortest.Start(t, data)
			rep, err := Repair(context.Background(), oneFile(f, evil.URL(), good.URL()), Options{Dir: dir, Connections: 1})
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if fileSHA(t, path) != sha256.Sum256(data) {
				t.Fatal("repaired file differs from the original")
			}
			if s := rep.Mirrors[0]; s.State != MirrorDropped || !strings.Contains(s.LastError, "framing") {
				t.Errorf("hostile mirror: %+v; want dropped for its framing", s)
			}
		})
	}
}

type closeCounter struct {
	http.RoundTripper
	closed int
}

func (c *closeCounter) CloseIdleConnections() { c.closed++ }

// http.Client.CloseIdleConnections reaches the transport under OriginAuth (the CLI
// closes its client's idle keep-alive connections through it).
func TestOriginAuthCloseIdleConnections(t *testing.T) {
	cc := &closeCounter{RoundTripper: http.DefaultTransport}
	c := &http.Client{Transport: OriginAuth(cc, "http://u:p@127.0.0.1:1/f")}
	c.CloseIdleConnections()
	if cc.closed != 1 {
		t.Errorf("CloseIdleConnections reached the wrapped transport %d times, want 1", cc.closed)
	}
}

// Case 27 for Repair: mirror URLs on one host:port share that host's PerMirror
// budget, as in Get: never more than PerMirror requests in flight to it at once.
func TestRepairSameHostCapped(t *testing.T) {
	const size, plen = 3 << 20, 16 << 10
	data, f := testFile(t, "r.bin", size, plen, 17)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	d := bytes.Clone(data)
	for p := 0; p < size/plen; p += 2 { // 96 separate bad pieces: 3 requests of 32 ranges
		d[p*plen+5] ^= 0xff
	}
	if err := os.WriteFile(path, d, 0o644); err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int32
	m := mirrortest.Start(t, data, mirrortest.File("/b/f.bin", data), mirrortest.File("/c/f.bin", data),
		mirrortest.Latency(20*time.Millisecond),
		peakRequests(&peak))
	o := Options{Dir: dir, PerMirror: 2, Connections: 16}
	rep, err := Repair(context.Background(), oneFile(f, m.URL(), m.FileURL("/b/f.bin"), m.FileURL("/c/f.bin")), o)
	if err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, path) != sha256.Sum256(data) {
		t.Fatal("repaired file differs from the original")
	}
	if rep.Requests < 3 {
		t.Fatalf("%d requests; the test needs at least 3", rep.Requests)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d repair requests in flight to one host at once, want at most PerMirror=2", p)
	}
}

// Discover with a caller's client that has no CheckRedirect (Go's default follows
// https to http): the metalink, the trust root, is still never read over plain http
// after an https URL (SECURITY.md rules 13 and 18), whether the https URL is the
// metalink itself, a describedby link, or the probed file.
func TestDiscoverNoDowngradeCustomClient(t *testing.T) {
	data, _ := discoverData(2000)
	plain := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", mediaMetalink4)
		w.Write([]byte(discoverMeta4("f.bin", data, "https://127.0.0.1:1/f.bin")))
	})
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/described/f.bin":
			w.Header().Set("Link", "</d.meta4>; rel=describedby; type=\""+mediaMetalink4+"\"")
		default: // /f.meta4, /d.meta4, /probe/f.bin
			http.Redirect(w, r, plain.URL+"/f.meta4", http.StatusFound)
		}
	}))
	t.Cleanup(tlsSrv.Close)
	for _, p := range []string{"/f.meta4", "/described/f.bin", "/probe/f.bin"} {
		client := tlsSrv.Client() // trusts the test certificate; no CheckRedirect
		_, err := discover(t, tlsSrv.URL+p, DiscoverOptions{Client: client})
		if !errors.Is(err, ErrRedirect) {
			t.Errorf("%s: Discover = %v, want ErrRedirect (https to http)", p, err)
		}
	}
	if n := plain.count("GET /f.meta4") + plain.count("HEAD /f.meta4"); n != 0 {
		t.Errorf("the plain-http server was asked %d times for the metalink", n)
	}
}

// Discover asks for the identity coding: with a caller's client that would ask for
// gzip itself (Go's default transport on a GET), a server compressing its answer
// would make the digest (RFC 3230: of the encoded instance) and the size describe
// bytes Get never downloads (Get asks for identity): a certain ErrVerify.
func TestDiscoverAsksIdentity(t *testing.T) {
	data, digest := discoverData(50000)
	srv := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			s := sha256.Sum256(b.Bytes())
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(s[:]))
			w.Write(b.Bytes())
			return
		}
		w.Header().Set("Digest", "SHA-256="+digest)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
	d, err := discover(t, srv.URL+"/f.bin", DiscoverOptions{Client: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	f := d.Metalink.Files[0]
	if f.Size != int64(len(data)) || len(f.Hashes) != 1 || f.Hashes[0].Value != fmt.Sprintf("%x", sha256.Sum256(data)) {
		t.Errorf("got size %d hashes %+v; want the identity coding's %d bytes and sha-256", f.Size, f.Hashes, len(data))
	}
}

// A file system reporting an absurd number of free blocks (FUSE and network file
// systems do) is not taken for a full one: the product saturates instead of wrapping
// negative, which failed the preflight with "no space left".
func TestFreeBytesSaturates(t *testing.T) {
	for _, tc := range []struct {
		blocks uint64
		bsize  int64
		want   int64
	}{
		{10, 4096, 40960},
		{1 << 52, 4096, math.MaxInt64},
		{math.MaxUint64, 4096, math.MaxInt64},
		{1 << 63, 1, math.MaxInt64},
		{5, 0, 0},
	} {
		if got := freeBytes(tc.blocks, tc.bsize); got != tc.want {
			t.Errorf("freeBytes(%d, %d) = %d, want %d", tc.blocks, tc.bsize, got, tc.want)
		}
	}
}

// A part file replaced by a symbolic link between two runs (to another file of the
// target directory) is never opened through the link: the other file is not
// truncated nor written, and the download completes (SECURITY.md rule 11, case 31).
func TestResumePartIsSymlink(t *testing.T) {
	data, f := testFile(t, "f.bin", 256<<10, tPlen, 28)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	o := fastOpts(dir)
	o.OnEvent = func(e Event) {
		if e.Kind == EventPieceDone {
			cancel()
		}
	}
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	if _, err := Get(ctx, ml, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want context.Canceled", err)
	}
	part := filepath.Join(dir, "f.bin.part")
	if _, err := os.Stat(part + ".mlj"); err != nil {
		t.Fatalf("no journal after the interrupted run: %v", err)
	}
	victim := filepath.Join(dir, "notes.txt")
	orig := []byte("the user's own file, not a part file\n")
	if err := os.WriteFile(victim, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(part); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("notes.txt", part); err != nil {
		t.Fatal(err)
	}
	o.OnEvent = nil
	rep, err := Get(context.Background(), ml, o)
	if got, _ := os.ReadFile(victim); !bytes.Equal(got, orig) {
		t.Errorf("the file the part-file link points to was changed: %d bytes now", len(got))
	}
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.bin")); !bytes.Equal(got, data) {
		t.Errorf("final file: %d bytes, want the download's %d", len(got), len(data))
	}
	if fi, err := os.Lstat(filepath.Join(dir, "f.bin")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("final name: %v %v; want a regular file", fi, err)
	}
	// The link is not ours: left as it was.
	if fi, err := os.Lstat(part); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted link: %v %v; want it left alone", fi, err)
	}
	if rep.Files[0].Resumed != 0 {
		t.Errorf("resumed %d pieces through the link", rep.Files[0].Resumed)
	}
}

// The name of a file built from headers comes from the URL the user gave, never
// from where a server redirected it (SECURITY.md rule 4, wget CVE-2010-2252): a
// redirect to /Makefile does not name the download Makefile.
func TestDiscoverNameNotFromRedirect(t *testing.T) {
	data, digest := discoverData(1500)
	target := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Digest", "SHA-256="+digest)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
	plainTarget := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
	origin := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain/latest" {
			http.Redirect(w, r, plainTarget.URL+"/Makefile", http.StatusFound)
			return
		}
		http.Redirect(w, r, target.URL+"/Makefile", http.StatusFound)
	})
	for _, p := range []string{"/download/latest", "/plain/latest"} {
		d, err := discover(t, origin.URL+p, DiscoverOptions{Client: NewClient(0, 4)})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if n := d.Metalink.Files[0].Name; n != "latest" {
			t.Errorf("%s (%s): file named %q after the redirect target, want %q from the URL given", p, d.Kind, n, "latest")
		}
	}
}
