package fetch

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// discoverData returns size deterministic bytes and their RFC 3230 sha-256 digest value.
func discoverData(size int) ([]byte, string) {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*31 + i/251)
	}
	s := sha256.Sum256(data)
	return data, base64.StdEncoding.EncodeToString(s[:])
}

func discoverMeta4(name string, data []byte, urls ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="%s"><size>%d</size><hash type="sha-256">%x</hash>
`, name, len(data), sha256.Sum256(data))
	for _, u := range urls {
		fmt.Fprintf(&b, "    <url>%s</url>\n", u)
	}
	b.WriteString("  </file>\n</metalink>\n")
	return b.String()
}

// recorder is a real server answering from a handler function and counting requests
// by method and path.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func startRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	rc := &recorder{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.seen = append(rc.seen, r.Method+" "+r.URL.Path)
		rc.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *recorder) count(req string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, s := range rc.seen {
		if s == req {
			n++
		}
	}
	return n
}

func discover(t *testing.T, raw string, o DiscoverOptions) (*Discovery, error) {
	t.Helper()
	return Discover(context.Background(), raw, o)
}

func TestDiscoverMetalinkURL(t *testing.T) {
	data, _ := discoverData(1000)
	doc := discoverMeta4("f.bin", data, "mirror/f.bin")
	var ct atomic.Value
	ct.Store("application/metalink4+xml; charset=utf-8")
	srv := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct.Load().(string))
		w.Header().Set("Link", `</elsewhere.meta4>; rel=describedby; type="application/metalink4+xml"`)
		io.WriteString(w, doc)
	})
	// A .meta4 path: one GET, the body decoded, relative URLs resolved against it, its
	// Link field not followed.
	d, err := discover(t, srv.URL+"/dir/f.meta4", DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != DiscoveryMetalink || d.Metalink.Files[0].URLs[0].URL != srv.URL+"/dir/mirror/f.bin" {
		t.Fatalf("got %s %+v", d.Kind, d.Metalink.Files[0].URLs)
	}
	if srv.count("HEAD /dir/f.meta4") != 0 || srv.count("GET /dir/f.meta4") != 1 || srv.count("GET /elsewhere.meta4") != 0 {
		t.Errorf("requests %v", srv.seen)
	}
	// Any other path whose HEAD says it is a metalink: fetched with GET.
	d, err = discover(t, srv.URL+"/download?id=3", DiscoverOptions{})
	if err != nil || d.Kind != DiscoveryMetalink || len(d.Metalink.Files) != 1 {
		t.Fatalf("by Content-Type: %v %+v", err, d)
	}
	if srv.count("HEAD /download") != 1 || srv.count("GET /download") != 1 {
		t.Errorf("requests %v", srv.seen)
	}
	// A .meta4 URL that is no metalink is an error of the document.
	ct.Store("text/html")
	srvHTML := startRecorder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hello</html>") })
	if _, err := discover(t, srvHTML.URL+"/f.meta4", DiscoverOptions{}); !errors.Is(err, metalink.ErrNotMetalink) {
		t.Errorf("html at .meta4: %v, want ErrNotMetalink", err)
	}
}

func TestDiscoverDescribedBy(t *testing.T) {
	data, digest := discoverData(3000)
	other, _ := discoverData(10)
	var meta atomic.Value
	meta.Store(`<?xml version="1.0"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="a.bin"><size>10</size><hash type="sha-256">` + fmt.Sprintf("%x", sha256.Sum256(other)) + `</hash><url>http://m/a.bin</url></file>
  <file name="sub/app.tar"><size>3000</size><hash type="sha-256">` + fmt.Sprintf("%x", sha256.Sum256(data)) + `</hash><url>m/app.tar</url></file>
</metalink>`)
	var sawAuthMeta atomic.Bool
	var origin *recorder
	metaSrv := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawAuthMeta.Store(true)
		}
		w.Header().Set("Content-Type", "application/metalink4+xml")
		// A describedby loop: the metalink's response names another metalink.
		w.Header().Set("Link", `<`+origin.URL+`/loop.meta4>; rel=describedby; type="application/metalink4+xml"`)
		io.WriteString(w, meta.Load().(string))
	})
	var sawAuthHead atomic.Bool
	origin = startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && u == "u" && p == "pw" {
			sawAuthHead.Store(true)
		}
		w.Header().Add("Link", `<`+metaSrv.URL+`/meta/app.tar.meta4>; rel="describedby"; type="application/metalink4+xml"`)
		w.Header().Add("Link", `<http://dup.invalid/app.tar>; rel=duplicate`)
		w.Header().Set("Digest", "SHA-256="+digest)
		w.Write(data)
	})
	u := strings.Replace(origin.URL, "http://", "http://u:pw@", 1) + "/rel/app.tar"
	d, err := discover(t, u, DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != DiscoveryDescribedBy || d.MetalinkURL != metaSrv.URL+"/meta/app.tar.meta4" {
		t.Fatalf("kind %s from %s", d.Kind, d.MetalinkURL)
	}
	// Of the two files, the one named like the URL's last segment; its relative URL
	// resolved against the metalink's URL.
	if fs := d.Metalink.Files; len(fs) != 1 || fs[0].Name != "sub/app.tar" || fs[0].URLs[0].URL != metaSrv.URL+"/meta/m/app.tar" {
		t.Fatalf("files %+v", fs)
	}
	if !sawAuthHead.Load() || sawAuthMeta.Load() {
		t.Errorf("credentials: origin saw them %v (want true), the describedby server %v (want false)", sawAuthHead.Load(), sawAuthMeta.Load())
	}
	if n := origin.count("GET /loop.meta4"); n != 0 {
		t.Errorf("the metalink's own Link was followed %d times", n)
	}
	if origin.count("HEAD /rel/app.tar") != 1 || origin.count("GET /rel/app.tar") != 0 {
		t.Errorf("origin requests %v: want one HEAD, no GET", origin.seen)
	}

	// A metalink whose single file has another sha-256 than the origin's digest.
	meta.Store(discoverMeta4("app.tar", other, "http://m/app.tar"))
	if _, err := discover(t, origin.URL+"/app.tar", DiscoverOptions{}); !errors.Is(err, ErrVerify) {
		t.Errorf("digest mismatch: %v, want ErrVerify", err)
	}
}

func TestDiscoverDescribedByHostile(t *testing.T) {
	big := bytes.Repeat([]byte("<!-- x -->"), 20000) // 200 KB, no metalink
	var loopGets atomic.Int32
	var srv *recorder
	srv = startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/huge":
			w.Header().Set("Link", `</huge.meta4>; rel=describedby; type="application/metalink4+xml"`)
		case "/huge.meta4":
			w.Header().Set("Content-Type", "application/metalink4+xml")
			w.Write(big)
		case "/html":
			w.Header().Set("Link", `</page>; rel=describedby; type="application/metalink4+xml"`)
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!doctype html><html><body>not found</body></html>")
		case "/loop":
			w.Header().Set("Link", `</loop.m>; rel=describedby; type="application/metalink4+xml"`)
		case "/loop.m":
			loopGets.Add(1)
			// Not a metalink, and names itself (and the origin) again.
			w.Header().Set("Link", `</loop.m>; rel=describedby; type="application/metalink4+xml", </loop>; rel=describedby; type="application/metalink4+xml"`)
			io.WriteString(w, "see Link")
		case "/ftp":
			w.Header().Set("Link", `<ftp://example.org/f.meta4>; rel=describedby; type="application/metalink4+xml"`)
		}
	})
	if _, err := discover(t, srv.URL+"/huge", DiscoverOptions{MaxMetalinkBytes: 64 << 10}); !errors.Is(err, metalink.ErrTooLarge) {
		t.Errorf("huge describedby: %v, want ErrTooLarge", err)
	}
	if _, err := discover(t, srv.URL+"/html", DiscoverOptions{}); !errors.Is(err, metalink.ErrNotMetalink) || !strings.Contains(err.Error(), "describedby") {
		t.Errorf("html describedby: %v, want ErrNotMetalink naming the Link", err)
	}
	if _, err := discover(t, srv.URL+"/loop", DiscoverOptions{}); err == nil || loopGets.Load() != 1 {
		t.Errorf("describedby loop: err %v, %d GETs of the loop target (want an error after exactly 1)", err, loopGets.Load())
	}
	if _, err := discover(t, srv.URL+"/ftp", DiscoverOptions{}); err == nil || !strings.Contains(err.Error(), `unsupported scheme "ftp"`) {
		t.Errorf("ftp describedby: %v", err)
	}
	// https → a metalink over plain http: refused before any request to it.
	tlsOrigin := mirrortest.Start(t, []byte("data"), mirrortest.TLS(),
		mirrortest.Header("Link", "<"+srv.URL+`/plain.meta4>; rel=describedby; type="application/metalink4+xml"`))
	if _, err := discover(t, tlsOrigin.URL(), DiscoverOptions{Client: tlsOrigin.Client()}); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("https → http describedby: %v", err)
	}
	if n := srv.count("GET /plain.meta4"); n != 0 {
		t.Errorf("the http metalink was fetched %d times", n)
	}
}

func TestDiscoverDuplicates(t *testing.T) {
	data, digest := discoverData(5000)
	m1 := mirrortest.Start(t, data, mirrortest.Path("/pub/app-1.0.tar"))
	origin := mirrortest.Start(t, data, mirrortest.Path("/dl/app-1.0.tar"),
		mirrortest.Header("Link", `<`+m1.URL()+`>; rel=duplicate; pri=2; geo=DE`),
		mirrortest.Header("Link", `<http://127.0.0.1:1/x/app-1.0.tar>; rel=duplicate, <ftp://ftp.example.org/app-1.0.tar>; rel=duplicate; pri=1`),
		mirrortest.Header("Link", `</dl/app-1.0.tar>; rel=duplicate; pri=1`), // itself: dropped
		mirrortest.Header("Link", `<http://user:pw@127.0.0.1:2/app-1.0.tar>; rel=duplicate`),
		mirrortest.Header("Repr-Digest", "sha-256=:"+digest+":"),
		mirrortest.Header("Digest", "SHA-256="+digest+", MD5="+base64.StdEncoding.EncodeToString(md5Of(data))))
	d, err := discover(t, origin.URL(), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != DiscoveryDuplicates || d.Mirrors != 2 {
		t.Fatalf("kind %s, %d mirrors, warnings %q", d.Kind, d.Mirrors, d.Warnings)
	}
	f := d.Metalink.Files[0]
	want := []metalink.URL{{URL: origin.URL()}, {URL: m1.URL(), Priority: 2, Location: "de"}, {URL: "http://127.0.0.1:1/x/app-1.0.tar"}}
	if f.Name != "app-1.0.tar" || f.Size != 5000 || fmt.Sprint(f.URLs) != fmt.Sprint(want) {
		t.Errorf("file %q size %d urls %+v, want %+v", f.Name, f.Size, f.URLs, want)
	}
	if h, ok := f.StrongestHash(); !ok || h.Type != "sha-256" || h.Value != fmt.Sprintf("%x", sha256.Sum256(data)) || len(f.Hashes) != 2 {
		t.Errorf("hashes %+v", f.Hashes)
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "2 Link rel=duplicate") {
		t.Errorf("warnings %q: want one about the ftp and the credentials mirror", d.Warnings)
	}
	for _, r := range origin.Requests() {
		if r.Method != http.MethodHead || r.Header.Get("Want-Digest") == "" || r.Header.Get("Want-Repr-Digest") == "" {
			t.Errorf("origin request %s %v: want a HEAD with Want-Digest and Want-Repr-Digest", r.Method, r.Header)
		}
	}

	// The cap on duplicates.
	var links []string
	for i := range 100 {
		links = append(links, fmt.Sprintf("<http://127.0.0.1:1/m%d/f>; rel=duplicate", i))
	}
	many := mirrortest.Start(t, data, mirrortest.Header("Link", strings.Join(links, ", ")), mirrortest.Header("Digest", "SHA-256="+digest))
	d, err = discover(t, many.URL(), DiscoverOptions{MaxDuplicates: 10})
	if err != nil || d.Mirrors != 10 || len(d.Metalink.Files[0].URLs) != 11 {
		t.Errorf("100 duplicates, cap 10: %v, %d mirrors", err, d.Mirrors)
	}
}

func md5Of(b []byte) []byte { s := md5.Sum(b); return s[:] }

func TestDiscoverPlainAndHostileNames(t *testing.T) {
	data, digest := discoverData(2000)
	// Duplicates without a digest: ignored, one source, no hash.
	origin := mirrortest.Start(t, data, mirrortest.Header("Link", `<http://127.0.0.1:1/f>; rel=duplicate`))
	d, err := discover(t, origin.URL(), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := d.Metalink.Files[0]
	if d.Kind != DiscoveryPlain || len(f.URLs) != 1 || f.URLs[0].URL != origin.URL() || len(f.Hashes) != 0 || f.Size != 2000 {
		t.Errorf("plain: %s %+v", d.Kind, f)
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "no Digest") {
		t.Errorf("warnings %q", d.Warnings)
	}

	srv := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("digest") {
		case "bad":
			w.Header().Set("Digest", "SHA-256=notbase64!")
		case "conflict":
			w.Header().Set("Digest", "SHA-256="+digest)
			w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":")
		default:
			w.Header().Set("Digest", "SHA-256="+digest)
		}
		if r.Method == http.MethodHead && r.URL.Path == "/nohead" {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if r.Method == http.MethodHead && r.URL.Path == "/presigned" {
			w.WriteHeader(http.StatusForbidden) // signed for GET only
			return
		}
		w.Write(data)
	})
	for _, tc := range []struct {
		path string
		want error
	}{
		{"/%2e%2e", metalink.ErrUnsafeName},
		{"/a/..%2F..%2Fetc%2Fpasswd", metalink.ErrUnsafeName},
		{"/dir/", metalink.ErrUnsafeName},
		{"/CON", metalink.ErrUnsafeName},
		{"/.bashrc", metalink.ErrUnsafeName},
		{"/f.bin?digest=bad", metalink.ErrBadHash},
		{"/f.bin?digest=conflict", metalink.ErrBadHash},
	} {
		if _, err := discover(t, srv.URL+tc.path, DiscoverOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, err, tc.want)
		}
	}
	// An output name replaces the URL's; HEAD refused with 405 → GET.
	d, err = discover(t, srv.URL+"/nohead", DiscoverOptions{Name: "saved.bin"})
	if err != nil || d.Kind != DiscoveryDuplicates || d.Metalink.Files[0].Name != "saved.bin" || d.Metalink.Files[0].Size != 2000 {
		t.Fatalf("405 fallback: %v %+v", err, d)
	}
	if srv.count("HEAD /nohead") != 1 || srv.count("GET /nohead") != 1 {
		t.Errorf("requests %v", srv.seen)
	}
	if d, err := discover(t, srv.URL+"/presigned", DiscoverOptions{}); err != nil || d.Kind != DiscoveryDuplicates || srv.count("GET /presigned") != 1 {
		t.Errorf("403 to HEAD: %v %+v", err, d)
	}
	// Percent-decoded names.
	d, err = discover(t, srv.URL+"/a%20b.tar", DiscoverOptions{})
	if err != nil || d.Metalink.Files[0].Name != "a b.tar" {
		t.Errorf("a%%20b.tar: %v %+v", err, d)
	}
	for _, raw := range []string{"ftp://example.org/f", "file:///etc/passwd"} {
		if _, err := discover(t, raw, DiscoverOptions{}); err == nil || !strings.Contains(err.Error(), "unsupported scheme") {
			t.Errorf("%s: %v", raw, err)
		}
	}
	if _, err := discover(t, origin.BaseURL()+"/missing", DiscoverOptions{}); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("404: %v", err)
	}
}

// TestDiscoverDuplicatesDownload downloads what the headers describe with Get: a
// mirror that sends its own Link fields (to a server that must see no request) is
// used for bytes only; a corrupting duplicate is caught by the digest (no piece hashes:
// the whole file fails, nothing reaches the final name, or the file is right).
func TestDiscoverDuplicatesDownload(t *testing.T) {
	data, digest := discoverData(256 << 10)
	elsewhere := mirrortest.Start(t, data)
	hostile := mirrortest.Start(t, data,
		mirrortest.Header("Link", `<`+elsewhere.URL()+`>; rel=duplicate; pri=1`),
		mirrortest.Header("Link", `<`+elsewhere.BaseURL()+`/f.meta4>; rel=describedby; type="application/metalink4+xml"`))
	good := mirrortest.Start(t, data)
	origin := mirrortest.Start(t, data,
		mirrortest.Header("Link", `<`+hostile.URL()+`>; rel=duplicate; pri=1, <`+good.URL()+`>; rel=duplicate; pri=2`),
		mirrortest.Header("Digest", "SHA-256="+digest))
	d, err := discover(t, origin.URL(), DiscoverOptions{})
	if err != nil || d.Kind != DiscoveryDuplicates || d.Mirrors != 2 {
		t.Fatalf("%v %+v", err, d)
	}
	dir := t.TempDir()
	rep, err := Get(context.Background(), d.Metalink, Options{Dir: dir, PerMirror: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "file.bin")); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	if elsewhere.RequestCount() != 0 {
		t.Errorf("the server named only by a mirror's Link fields got %d requests", elsewhere.RequestCount())
	}
	if hostile.BytesServed() == 0 || good.BytesServed() == 0 {
		t.Errorf("bytes: hostile mirror %d, good %d (report %+v)", hostile.BytesServed(), good.BytesServed(), rep.Files[0].Mirrors)
	}

	// A corrupting duplicate: the download fails verification (nothing under the final
	// name) or, if the corrupt bytes lost every race, is right.
	bad := mirrortest.Start(t, data, mirrortest.CorruptFraction(16<<10, 1, 3))
	origin2 := mirrortest.Start(t, data,
		mirrortest.Header("Link", `<`+bad.URL()+`>; rel=duplicate; pri=1`),
		mirrortest.Header("Digest", "SHA-256="+digest))
	d, err = discover(t, origin2.URL(), DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	_, err = Get(context.Background(), d.Metalink, Options{Dir: dir, MaxRetries: 1})
	got, rerr := os.ReadFile(filepath.Join(dir, "file.bin"))
	switch {
	case err == nil && !bytes.Equal(got, data):
		t.Fatal("a wrong file under the final name")
	case err != nil && !errors.Is(rerr, os.ErrNotExist):
		t.Fatalf("failed (%v) but left a final file", err)
	case err != nil && !errors.Is(err, ErrVerify):
		t.Errorf("error %v, want ErrVerify", err)
	}
	if bad.BytesServed() == 0 {
		t.Error("the corrupting mirror was not used")
	}
}

// TestDiscoverContentLengthLie: HEAD announces a size the file does not have; every
// GET then reports another total, so the download fails and leaves no final file.
func TestDiscoverContentLengthLie(t *testing.T) {
	data, digest := discoverData(100 << 10)
	srv := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Digest", "SHA-256="+digest)
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)+4096))
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})
	d, err := discover(t, srv.URL+"/lie.bin", DiscoverOptions{})
	if err != nil || d.Metalink.Files[0].Size != int64(len(data)+4096) {
		t.Fatalf("%v %+v", err, d)
	}
	dir := t.TempDir()
	if _, err := Get(context.Background(), d.Metalink, Options{Dir: dir}); !errors.Is(err, ErrNoSource) && !errors.Is(err, ErrVerify) {
		t.Errorf("size lie: %v, want ErrNoSource or ErrVerify", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lie.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("final file after a size lie: %v", err)
	}
}

// TestDiscoverRedirectFields: a MirrorBrain-style origin answers with a redirect to a
// mirror carrying the Link and Digest fields; the mirror's own fields are not used.
func TestDiscoverRedirectFields(t *testing.T) {
	data, digest := discoverData(4000)
	elsewhere := mirrortest.Start(t, data)
	target := mirrortest.Start(t, data, mirrortest.Path("/mirror/pkg.rpm"),
		mirrortest.Header("Link", "<"+elsewhere.URL()+">; rel=duplicate"),
		mirrortest.Header("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(make([]byte, 32))))
	dup := mirrortest.Start(t, data, mirrortest.Path("/d/pkg.rpm"))
	origin := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "<"+dup.URL()+">; rel=duplicate; pri=1")
		w.Header().Set("Digest", "SHA-256="+digest)
		http.Redirect(w, r, target.URL(), http.StatusFound)
	})
	d, err := discover(t, origin.URL+"/get/pkg.rpm", DiscoverOptions{Client: NewClient(0, 4)})
	if err != nil {
		t.Fatal(err)
	}
	f := d.Metalink.Files[0]
	if d.Kind != DiscoveryDuplicates || f.Name != "pkg.rpm" || f.Size != 4000 || len(f.URLs) != 2 || f.URLs[1].URL != dup.URL() ||
		f.Hashes[0].Value != fmt.Sprintf("%x", sha256.Sum256(data)) {
		t.Fatalf("got %s %+v", d.Kind, f)
	}
	if elsewhere.RequestCount() != 0 {
		t.Error("the redirect target's Link was used")
	}
}

// TestOriginAuth: the credentials of the source URL reach its origin only.
func TestOriginAuth(t *testing.T) {
	var got sync.Map
	h := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if a := r.Header.Get("Authorization"); a != "" {
				got.Store(name, a)
			}
			if r.URL.Path == "/redirect" {
				http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
			}
		}
	}
	a := startRecorder(t, h("a"))
	b := startRecorder(t, h("b"))
	c := NewClient(0, 4)
	c.Transport = OriginAuth(c.Transport, strings.Replace(a.URL, "http://", "http://u:p@", 1)+"/file")
	for _, u := range []string{a.URL + "/x", b.URL + "/y", a.URL + "/redirect?to=" + url.QueryEscape(b.URL+"/z")} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if v, ok := got.Load("a"); !ok || v != "Basic "+base64.StdEncoding.EncodeToString([]byte("u:p")) {
		t.Errorf("origin got %v", v)
	}
	if v, ok := got.Load("b"); ok {
		t.Errorf("another origin got %v", v)
	}
	if rt := OriginAuth(http.DefaultTransport, a.URL+"/no-userinfo"); rt != http.DefaultTransport {
		t.Error("no userinfo: the transport was wrapped")
	}
}

// ExampleDiscover turns a plain URL whose server speaks Metalink/HTTP (a Link
// rel=duplicate mirror and a SHA-256 Digest) into a metalink and downloads it from
// both servers, verified against the digest.
func ExampleDiscover() {
	content := bytes.Repeat([]byte("mlink "), 50000)
	sum := sha256.Sum256(content)
	mirror := mirrortest.New(content, mirrortest.Path("/pub/app.tar"))
	defer mirror.Close()
	origin := mirrortest.New(content, mirrortest.Path("/download/app.tar"),
		mirrortest.Header("Link", "<"+mirror.URL()+">; rel=duplicate; pri=1; geo=de"),
		mirrortest.Header("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:])))
	defer origin.Close()

	d, err := Discover(context.Background(), origin.URL(), DiscoverOptions{})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	f := d.Metalink.Files[0]
	fmt.Println(d.Kind, f.Name, f.Size, len(f.URLs), "sources")

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	rep, err := Get(context.Background(), d.Metalink, Options{Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(rep.Files[0].State, rep.Files[0].Hash[:15])
	// Output:
	// duplicates app.tar 300000 2 sources
	// done sha-256:1fd71b4
}

// Without a size nothing can be split across mirrors, and an unvouched mirror could
// stream forever: duplicates are not used, the file comes from the server named.
func TestDiscoverDuplicatesUnknownSize(t *testing.T) {
	data, digest := discoverData(4000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<http://127.0.0.1:1/m/f.bin>; rel=duplicate`)
		w.Header().Set("Digest", "SHA-256="+digest)
		if r.Method == http.MethodHead {
			return // no Content-Length: size unknown
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	d, err := discover(t, srv.URL+"/f.bin", DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := d.Metalink.Files[0]
	if d.Kind != DiscoveryDuplicates || f.Size != -1 || len(f.URLs) != 1 || f.URLs[0].URL != srv.URL+"/f.bin" || d.Mirrors != 0 {
		t.Fatalf("kind %s, size %d, urls %+v, %d mirrors; want the named server alone", d.Kind, f.Size, f.URLs, d.Mirrors)
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "size is unknown") {
		t.Errorf("warnings %q: want one saying why the duplicate is not used", d.Warnings)
	}
}
