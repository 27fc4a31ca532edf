package publish

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
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
	"github.com/mlinkdev/mlink/metalink"
)

// svContent is a deterministic file body of n bytes.
func svContent(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i*7%26)
	}
	return b
}

// svTree creates files (name -> content) under a new temporary directory.
func svTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// svStart serves dir with opts on a loopback httptest server.
func svStart(t *testing.T, dir string, opts HandlerOptions) (*Handler, *httptest.Server) {
	t.Helper()
	h, err := NewHandler(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		h.Close()
	})
	return h, ts
}

// svDo sends a request with extra header lines and returns the response with its body read.
func svDo(t *testing.T, ts *httptest.Server, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestPlanRanges(t *testing.T) {
	many := func(n, step int) string {
		var sb strings.Builder
		sb.WriteString("bytes=")
		for i := 0; i < n; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%d-%d", i*step, i*step)
		}
		return sb.String()
	}
	const size = 10000
	tests := []struct {
		in, header, why string
	}{
		{"bytes=0-99", "bytes=0-99", "ok"},
		{"BYTES=0-99", "bytes=0-99", "ok"},
		{"bytes=9990-", "bytes=9990-9999", "ok"},
		{"bytes=-10", "bytes=9990-9999", "ok"},
		{"bytes=-20000", "bytes=0-9999", "ok"},
		{"bytes=0-9223372036854775807", "bytes=0-9999", "ok"},
		{"bytes=0-18446744073709551615", "bytes=10000-", "invalid"},
		{"bytes=-9223372036854775808", "bytes=10000-", "invalid"},
		{"bytes=99999999999999999999-", "bytes=10000-", "invalid"},
		{"bytes=5-1", "bytes=10000-", "invalid"},
		{"bytes=10000-", "bytes=10000-", "unsatisfiable"},
		{"bytes=-0", "bytes=10000-", "unsatisfiable"},
		{"bytes=abc", "bytes=10000-", "invalid"},
		{"bytes=1-2-3", "bytes=10000-", "invalid"},
		{"bytes=+1-2", "bytes=10000-", "invalid"},
		{"bytes=", "bytes=10000-", "invalid"},
		{"bytes=,,", "bytes=10000-", "invalid"},
		{"0-5", "bytes=10000-", "invalid"},
		{"items=0-5", "", "unit"},
		{"bytes=0-0, 2-2", "bytes=0-2", "ok"},                       // gap below rangeGap: one part
		{"bytes=500-599,0-99", "bytes=0-99,500-599", "ok"},          // sorted
		{"bytes=0-99,50-149", "bytes=0-149", "ok"},                  // overlap merged
		{"bytes=0-9,200-209,,", "bytes=0-9,200-209", "ok"},          // empty elements
		{"bytes=0-,1-,2-", "", "overlap"},                           // sum > size
		{"bytes=20000-,0-9", "bytes=0-9", "ok"},                     // unsatisfiable spec dropped
		{many(64, 100), many(64, 100), "ok"},                        // at the cap
		{many(65, 100), "", "too-many"},                             // over the cap
		{many(20000, 2), "", "too-many"},                            // 20 000 one-byte ranges
		{"bytes=0-0" + strings.Repeat(",", 100), "bytes=0-0", "ok"}, // commas alone are not ranges
		{"bytes=9999-9999,-1", "bytes=9999-9999", "ok"},             // same byte twice, sum 2 <= size
	}
	for _, tc := range tests {
		got := planRanges(tc.in, size, 64)
		if got.header != tc.header || got.why != tc.why {
			name := tc.in
			if len(name) > 60 {
				name = name[:60] + "..."
			}
			t.Errorf("planRanges(%q) = (%q, %s), want (%q, %s)", name, got.header, got.why, tc.header, tc.why)
		}
	}
	// A zero-length file satisfies no range.
	if got := planRanges("bytes=0-", 0, 64); got.header != "bytes=0-" || got.why != "unsatisfiable" {
		t.Errorf("planRanges on an empty file = %+v", got)
	}
}

// TestHandlerRanges drives every Range edge through a real server and
// checks status, Content-Range, Content-Length and body against RFC 9110.
func TestHandlerRanges(t *testing.T) {
	const size = 1000
	data := svContent(size)
	dir := svTree(t, map[string][]byte{"f.bin": data, "empty": {}})
	_, ts := svStart(t, dir, HandlerOptions{MaxRanges: 8})
	sz := strconv.Itoa(size)
	tests := []struct {
		name, method, rng string
		status            int
		contentRange      string
		body              []byte // nil: not checked (multipart), else exact
	}{
		{"first bytes", "GET", "bytes=0-4", 206, "bytes 0-4/" + sz, data[0:5]},
		{"suffix", "GET", "bytes=-5", 206, "bytes 995-999/" + sz, data[995:]},
		{"open end", "GET", "bytes=990-", 206, "bytes 990-999/" + sz, data[990:]},
		{"last-pos past the end", "GET", "bytes=990-5000", 206, "bytes 990-999/" + sz, data[990:]},
		{"largest last-pos", "GET", "bytes=0-9223372036854775807", 206, "bytes 0-999/" + sz, data},
		{"last-pos beyond int64", "GET", "bytes=0-18446744073709551615", 416, "bytes */" + sz, nil},
		{"suffix beyond int64", "GET", "bytes=-9223372036854775808", 416, "bytes */" + sz, nil},
		{"first > last", "GET", "bytes=5-1", 416, "bytes */" + sz, nil},
		{"start past the end", "GET", "bytes=1000-", 416, "bytes */" + sz, nil},
		{"garbage", "GET", "bytes=x-y", 416, "bytes */" + sz, nil},
		{"unknown unit ignored", "GET", "pages=1-2", 200, "", data},
		{"overlapping set ignored", "GET", "bytes=0-,1-,2-,3-", 200, "", data},
		{"over the cap", "GET", "bytes=0-0,100-100,200-200,300-300,400-400,500-500,600-600,700-700,800-800", 200, "", data},
		{"small gaps coalesced", "GET", "bytes=0-0,2-2,4-4", 206, "bytes 0-4/" + sz, data[0:5]},
		{"HEAD ignores Range", "HEAD", "bytes=0-4", 200, "", []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := svDo(t, ts, tc.method, "/f.bin", "Range", tc.rng)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
			}
			if tc.body != nil && !bytes.Equal(body, tc.body) {
				t.Errorf("body %d bytes %q, want %d bytes", len(body), svClip(body), len(tc.body))
			}
			if tc.status == 200 && tc.method == "GET" && resp.ContentLength != size {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, size)
			}
			if tc.method == "HEAD" && resp.Header.Get("Content-Length") != sz {
				t.Errorf("HEAD Content-Length %q, want %s", resp.Header.Get("Content-Length"), sz)
			}
			if resp.Header.Get("Accept-Ranges") != "bytes" && tc.status != 416 {
				t.Errorf("Accept-Ranges %q", resp.Header.Get("Accept-Ranges"))
			}
		})
	}

	t.Run("multipart", func(t *testing.T) {
		resp, body := svDo(t, ts, "GET", "/f.bin", "Range", "bytes=900-909,0-9")
		if resp.StatusCode != 206 {
			t.Fatalf("status %d, want 206", resp.StatusCode)
		}
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("Content-Type %q (%v)", resp.Header.Get("Content-Type"), err)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d, body %d", resp.ContentLength, len(body))
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		want := []struct {
			cr   string
			data []byte
		}{{"bytes 0-9/1000", data[0:10]}, {"bytes 900-909/1000", data[900:910]}}
		for i, w := range want {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			got, _ := io.ReadAll(p)
			if p.Header.Get("Content-Range") != w.cr || !bytes.Equal(got, w.data) {
				t.Errorf("part %d: %q %q, want %q %q", i, p.Header.Get("Content-Range"), got, w.cr, w.data)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("extra part: %v", err)
		}
	})

	t.Run("20000 one-byte ranges do not amplify", func(t *testing.T) {
		big := svContent(100_000)
		dir := svTree(t, map[string][]byte{"big": big})
		_, ts := svStart(t, dir, HandlerOptions{})
		var sb strings.Builder
		sb.WriteString("bytes=")
		for i := range 20000 {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%d-%d", i*5, i*5)
		}
		resp, body := svDo(t, ts, "GET", "/big", "Range", sb.String())
		if resp.StatusCode != 200 && resp.StatusCode != 416 {
			t.Fatalf("status %d, want 200 or 416", resp.StatusCode)
		}
		if len(body) > len(big) {
			t.Errorf("sent %d bytes for a %d-byte file", len(body), len(big))
		}
	})

	t.Run("empty file", func(t *testing.T) {
		// No range of an empty file is satisfiable; net/http ignores the
		// field (RFC 9110 lets a server do so) and sends the empty body.
		resp, body := svDo(t, ts, "GET", "/empty", "Range", "bytes=0-")
		if !(resp.StatusCode == 416 && resp.Header.Get("Content-Range") == "bytes */0") && !(resp.StatusCode == 200 && len(body) == 0) {
			t.Errorf("status %d Content-Range %q, want 416 bytes */0 or an empty 200", resp.StatusCode, resp.Header.Get("Content-Range"))
		}
		resp, body = svDo(t, ts, "GET", "/empty")
		if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("ETag") == "" {
			t.Errorf("GET empty: %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
		}
	})

	t.Run("two Range fields ignored", func(t *testing.T) {
		resp, body := svDo(t, ts, "GET", "/f.bin", "Range", "bytes=0-1", "Range", "bytes=5-6")
		if resp.StatusCode != 200 || len(body) != size {
			t.Errorf("status %d, %d bytes; want 200 with the whole file", resp.StatusCode, len(body))
		}
	})
}

func svClip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// TestHandlerConditional checks RFC 9110 section 13.2.2 precedence:
// If-Match, then If-Unmodified-Since (only without If-Match), then
// If-None-Match, then If-Modified-Since (only without If-None-Match, GET/HEAD),
// then If-Range, then Range.
func TestHandlerConditional(t *testing.T) {
	data := svContent(500)
	dir := svTree(t, map[string][]byte{"f": data})
	mtime := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "f"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	_, ts := svStart(t, dir, HandlerOptions{})
	sum := sha256.Sum256(data)
	etag := `"sha256-` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	lm := mtime.Format(http.TimeFormat)
	before := mtime.Add(-time.Hour).Format(http.TimeFormat)
	after := mtime.Add(time.Hour).Format(http.TimeFormat)

	resp, _ := svDo(t, ts, "GET", "/f")
	if got := resp.Header.Get("ETag"); got != etag {
		t.Fatalf("ETag %q, want %q (from the content's sha-256)", got, etag)
	}
	if got := resp.Header.Get("Last-Modified"); got != lm {
		t.Fatalf("Last-Modified %q, want %q", got, lm)
	}

	tests := []struct {
		name   string
		method string
		hdr    []string
		status int
	}{
		{"If-None-Match same", "GET", []string{"If-None-Match", etag}, 304},
		{"If-None-Match weak form of same", "GET", []string{"If-None-Match", "W/" + etag}, 304},
		{"If-None-Match list", "GET", []string{"If-None-Match", `"x", ` + etag}, 304},
		{"If-None-Match star", "GET", []string{"If-None-Match", "*"}, 304},
		{"If-None-Match other", "GET", []string{"If-None-Match", `"other"`}, 200},
		{"If-None-Match same HEAD", "HEAD", []string{"If-None-Match", etag}, 304},
		{"If-Match same", "GET", []string{"If-Match", etag}, 200},
		{"If-Match star", "GET", []string{"If-Match", "*"}, 200},
		{"If-Match other", "GET", []string{"If-Match", `"other"`}, 412},
		{"If-Match weak never matches", "GET", []string{"If-Match", "W/" + etag}, 412},
		{"If-Match before If-None-Match", "GET", []string{"If-Match", `"other"`, "If-None-Match", etag}, 412},
		{"If-Unmodified-Since earlier", "GET", []string{"If-Unmodified-Since", before}, 412},
		{"If-Unmodified-Since later", "GET", []string{"If-Unmodified-Since", after}, 200},
		{"If-Unmodified-Since ignored with If-Match", "GET", []string{"If-Match", etag, "If-Unmodified-Since", before}, 200},
		{"If-Modified-Since same", "GET", []string{"If-Modified-Since", lm}, 304},
		{"If-Modified-Since earlier", "GET", []string{"If-Modified-Since", before}, 200},
		{"If-Modified-Since ignored with If-None-Match", "GET", []string{"If-None-Match", `"other"`, "If-Modified-Since", lm}, 200},
		{"If-Modified-Since malformed ignored", "GET", []string{"If-Modified-Since", "yesterday"}, 200},
		{"If-Range same etag", "GET", []string{"If-Range", etag, "Range", "bytes=0-9"}, 206},
		{"If-Range other etag", "GET", []string{"If-Range", `"other"`, "Range", "bytes=0-9"}, 200},
		{"If-Range weak etag", "GET", []string{"If-Range", "W/" + etag, "Range", "bytes=0-9"}, 200},
		{"If-Range same date", "GET", []string{"If-Range", lm, "Range", "bytes=0-9"}, 206},
		{"If-Range earlier date", "GET", []string{"If-Range", before, "Range", "bytes=0-9"}, 200},
		{"If-None-Match before Range", "GET", []string{"If-None-Match", etag, "Range", "bytes=0-9"}, 304},
		{"If-Match before 416", "GET", []string{"If-Match", `"other"`, "Range", "bytes=9999-"}, 412},
		{"If-Range mismatch makes an unsatisfiable range 200", "GET", []string{"If-Range", `"other"`, "Range", "bytes=9999-"}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := svDo(t, ts, tc.method, "/f", tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			switch tc.status {
			case 304:
				if len(body) != 0 || resp.Header.Get("ETag") != etag {
					t.Errorf("304 with %d body bytes, ETag %q", len(body), resp.Header.Get("ETag"))
				}
				if resp.Header.Get("Link") != "" || resp.Header.Get("Digest") != "" {
					t.Errorf("304 carries Metalink/HTTP fields: %v", resp.Header)
				}
			case 200:
				if tc.method == "GET" && !bytes.Equal(body, data) {
					t.Errorf("200 body is %d bytes, want the file", len(body))
				}
			}
		})
	}
}

// TestHandlerMetalinkHeaders checks the RFC 6249 / RFC 9530 fields on 200,
// 206 and HEAD, mirror order and cap, and the ETag policy shared across
// servers.
func TestHandlerMetalinkHeaders(t *testing.T) {
	data := svContent(3000)
	dir := svTree(t, map[string][]byte{"sub/a b.iso": data})
	mirrors := []Mirror{
		{URL: "http://m3.example/pub/", Priority: 30},
		{URL: "http://m1.example/pub", Priority: 1, Location: "de"},
		{URL: "https://m2.example/x/", Priority: 2, Location: "fr"},
		{URL: "http://unset.example/"},
	}
	_, ts := svStart(t, dir, HandlerOptions{Mirrors: mirrors, LinkMirrors: 3, Sums: &Hasher{Hashes: []string{"sha-256", "sha-512"}}})
	s256 := sha256.Sum256(data)
	s512 := sha512.Sum512(data)
	b256 := base64.StdEncoding.EncodeToString(s256[:])
	b512 := base64.StdEncoding.EncodeToString(s512[:])

	for _, tc := range []struct {
		name, method string
		hdr          []string
		status       int
		digest, repr string
	}{
		{"GET", "GET", nil, 200, "SHA-256=" + b256, "sha-256=:" + b256 + ":"},
		{"HEAD", "HEAD", nil, 200, "SHA-256=" + b256, "sha-256=:" + b256 + ":"},
		{"206", "GET", []string{"Range", "bytes=10-20"}, 206, "SHA-256=" + b256, "sha-256=:" + b256 + ":"},
		{"Want-Digest sha-512", "GET", []string{"Want-Digest", "SHA-512;q=0.5, md5;q=0"}, 200, "SHA-256=" + b256 + ", SHA-512=" + b512, "sha-256=:" + b256 + ":"},
		{"Want-Digest sha-512 q=0", "GET", []string{"Want-Digest", "SHA-512;q=0"}, 200, "SHA-256=" + b256, "sha-256=:" + b256 + ":"},
		{"Want-Repr-Digest sha-512", "HEAD", []string{"Want-Repr-Digest", "sha-512=10, sha-256=0"}, 200, "SHA-256=" + b256, "sha-512=:" + b512 + ":"},
		{"Want-Repr-Digest both", "HEAD", []string{"Want-Repr-Digest", "sha-256=3, sha-512=9"}, 200, "SHA-256=" + b256, "sha-512=:" + b512 + ":, sha-256=:" + b256 + ":"},
		{"Want-Repr-Digest unknown", "HEAD", []string{"Want-Repr-Digest", "md5=10"}, 200, "SHA-256=" + b256, "sha-256=:" + b256 + ":"},
		{"Want-Repr-Digest malformed", "HEAD", []string{"Want-Repr-Digest", "sha-512=high"}, 200, "SHA-256=" + b256, "sha-256=:" + b256 + ":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := svDo(t, ts, tc.method, "/sub/a%20b.iso", tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Digest"); got != tc.digest {
				t.Errorf("Digest %q, want %q", got, tc.digest)
			}
			if got := resp.Header.Get("Repr-Digest"); got != tc.repr {
				t.Errorf("Repr-Digest %q, want %q", got, tc.repr)
			}
			links, err := httphdr.ParseLink(resp.Header.Values("Link")...)
			if err != nil {
				t.Fatalf("Link fields %q: %v", resp.Header.Values("Link"), err)
			}
			var dups []string
			var described []httphdr.Link
			for _, l := range links {
				switch {
				case l.HasRel("duplicate"):
					pri, _ := l.Pri()
					dups = append(dups, fmt.Sprintf("%s pri=%d geo=%s", l.URL, pri, l.Geo()))
				case l.HasRel("describedby"):
					described = append(described, l)
				}
			}
			wantDups := []string{
				"http://m1.example/pub/sub/a%20b.iso pri=1 geo=de",
				"https://m2.example/x/sub/a%20b.iso pri=2 geo=fr",
				"http://m3.example/pub/sub/a%20b.iso pri=30 geo=",
			}
			if strings.Join(dups, "\n") != strings.Join(wantDups, "\n") {
				t.Errorf("duplicates:\n%s\nwant:\n%s", strings.Join(dups, "\n"), strings.Join(wantDups, "\n"))
			}
			if len(described) != 1 || described[0].URL != "a%20b.iso.meta4" || described[0].Type() != "application/metalink4+xml" {
				t.Errorf("describedby = %+v", described)
			}
		})
	}

	t.Run("same bytes, same ETag on another server", func(t *testing.T) {
		dir2 := svTree(t, map[string][]byte{"elsewhere/other-name": data})
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		os.Chtimes(filepath.Join(dir2, "elsewhere/other-name"), old, old)
		_, ts2 := svStart(t, dir2, HandlerOptions{})
		r1, _ := svDo(t, ts, "HEAD", "/sub/a%20b.iso")
		r2, _ := svDo(t, ts2, "HEAD", "/elsewhere/other-name")
		if r1.Header.Get("ETag") == "" || r1.Header.Get("ETag") != r2.Header.Get("ETag") {
			t.Errorf("ETags differ: %q vs %q", r1.Header.Get("ETag"), r2.Header.Get("ETag"))
		}
		if r1.Header.Get("Last-Modified") == r2.Header.Get("Last-Modified") {
			t.Errorf("test broken: same Last-Modified")
		}
	})

	t.Run("sha-512 not computed by default", func(t *testing.T) {
		_, ts4 := svStart(t, dir, HandlerOptions{})
		resp, _ := svDo(t, ts4, "HEAD", "/sub/a%20b.iso", "Want-Digest", "sha-512", "Want-Repr-Digest", "sha-512=5")
		if resp.Header.Get("Digest") != "SHA-256="+b256 || resp.Header.Get("Repr-Digest") != "sha-256=:"+b256+":" {
			t.Errorf("Digest %q Repr-Digest %q, want sha-256 only", resp.Header.Get("Digest"), resp.Header.Get("Repr-Digest"))
		}
	})

	t.Run("no Link duplicates when disabled", func(t *testing.T) {
		_, ts3 := svStart(t, dir, HandlerOptions{Mirrors: mirrors, LinkMirrors: -1, BaseURL: "https://dl.example/pub"})
		resp, _ := svDo(t, ts3, "HEAD", "/sub/a%20b.iso")
		links := resp.Header.Values("Link")
		if len(links) != 1 || links[0] != `<https://dl.example/pub/sub/a%20b.iso.meta4>; rel=describedby; type="application/metalink4+xml"` {
			t.Errorf("Link = %q", links)
		}
	})

	t.Run("never compressed", func(t *testing.T) {
		tr := &http.Transport{DisableCompression: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", ts.URL+"/sub/a%20b.iso", nil)
		req.Header.Set("Accept-Encoding", "gzip, br, deflate")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, data) {
			t.Errorf("Content-Encoding %q, body %d bytes", resp.Header.Get("Content-Encoding"), len(body))
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-transform") {
			t.Errorf("Cache-Control %q lacks no-transform", cc)
		}
	})
}

// countingSums counts Sums calls per name and can hold a name's hashing
// until released.
type countingSums struct {
	inner SumSource
	mu    sync.Mutex
	calls map[string]int
	hold  map[string]chan struct{}
}

func (c *countingSums) Sums(ctx context.Context, root *os.Root, name string) (*metalink.File, error) {
	c.mu.Lock()
	c.calls[name]++
	ch := c.hold[name]
	c.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return c.inner.Sums(ctx, root, name)
}

func (c *countingSums) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[name]
}

// TestHandlerHashesOnce: concurrent first requests hash a file once; a file
// being hashed does not block requests for another file.
func TestHandlerHashesOnce(t *testing.T) {
	dir := svTree(t, map[string][]byte{"slow": svContent(50_000), "other": svContent(10)})
	release := make(chan struct{})
	cs := &countingSums{inner: &Hasher{}, calls: map[string]int{}, hold: map[string]chan struct{}{"slow": release}}
	_, ts := svStart(t, dir, HandlerOptions{Sums: cs})

	const n = 20
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range n {
		wg.Go(func() {
			resp, err := ts.Client().Get(ts.URL + "/slow")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && resp.Header.Get("ETag") != "" {
				ok.Add(1)
			}
		})
	}
	// While "slow" is held, "other" is served.
	resp, body := svDo(t, ts, "GET", "/other")
	if resp.StatusCode != 200 || len(body) != 10 {
		t.Fatalf("other file while slow one hashes: %d, %d bytes", resp.StatusCode, len(body))
	}
	// Wait until the slow hashing has started, then let it finish.
	for cs.count("slow") == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if ok.Load() != n {
		t.Errorf("%d of %d requests succeeded", ok.Load(), n)
	}
	if got := cs.count("slow"); got != 1 {
		t.Errorf("slow hashed %d times, want once", got)
	}
	// Later requests come from memory.
	svDo(t, ts, "HEAD", "/slow")
	if got := cs.count("slow"); got != 1 {
		t.Errorf("slow hashed %d times after a repeat request, want once", got)
	}
	// A changed file is hashed again.
	p := filepath.Join(dir, "other")
	os.WriteFile(p, []byte("changed!"), 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(p, later, later)
	resp, body = svDo(t, ts, "GET", "/other")
	sum := sha256.Sum256([]byte("changed!"))
	if string(body) != "changed!" || resp.Header.Get("Digest") != "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("after change: %q, Digest %q", body, resp.Header.Get("Digest"))
	}
}

// svRaw sends raw bytes to the server and reads one response.
func svRaw(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", raw, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestHandlerSafety: only files under the root, dotfiles hidden, traversal
// and absolute-path tricks refused (SECURITY.md rule 5, case 69).
func TestHandlerSafety(t *testing.T) {
	dir := svTree(t, map[string][]byte{
		"pub/file":      []byte("public"),
		".secret":       []byte("hidden"),
		"pub/.git/conf": []byte("hidden"),
	})
	outside := svTree(t, map[string][]byte{"passwd": []byte("outside")})
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(dir, "pub/escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("file", filepath.Join(dir, "pub/inside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "outdir")); err != nil {
		t.Fatal(err)
	}
	fifo := makeFIFO(t, filepath.Join(dir, "pub/fifo"))
	h, err := NewHandler(dir, HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ts := httptest.NewUnstartedServer(h)
	ts.Config = NewServer("", h, nil)
	ts.Start()
	defer ts.Close()
	addr := ts.Listener.Addr().String()

	tests := []struct {
		target string
		status int
	}{
		{"/pub/file", 200},
		{"/pub/inside", 200},
		{"/../../etc/passwd", 400},
		{"/pub/../../etc/passwd", 400},
		{"/%2e%2e/%2e%2e/etc/passwd", 400},
		{"/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400},
		{"/pub/..%2f..%2fetc/passwd", 400},
		{"/pub/%2E%2E/file", 400},
		{"/./pub/file", 400},
		{"//etc/passwd", 400},
		{"/pub//file", 400},
		{"/pub%5c..%5cfile", 400},
		{"/pub/file%00", 400},
		{"/pub/file%0a", 400},
		{"http://evil.example/../etc/passwd", 400},
		{"*", 400},
		{"/.secret", 404},
		{"/%2esecret", 404},
		{"/pub/.git/conf", 404},
		{"/pub/.git/", 404},
		{"/.secret.meta4", 404},
		{"/pub/escape", 404},
		{"/pub/escape.meta4", 404},
		{"/outdir/passwd", 404},
		{"/outdir/", 404},
		{"/etc/passwd", 404},
		{"/pub/missing", 404},
	}
	if fifo {
		tests = append(tests, struct {
			target string
			status int
		}{"/pub/fifo", 404})
	}
	for _, tc := range tests {
		resp := svRaw(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: status %d, want %d", tc.target, resp.StatusCode, tc.status)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
		resp := svRaw(t, addr, m+" /pub/file HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d Allow %q, want 405 GET, HEAD", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// The header size cap.
	resp := svRaw(t, addr, "GET /pub/file HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2*ServerMaxHeaderBytes)+"\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("huge header: status %d, want 431", resp.StatusCode)
	}
	// The index lists neither dotfiles nor escaping links nor the FIFO.
	_, body := svDo(t, ts, "GET", "/pub/")
	for _, hidden := range []string{".git", "escape", "fifo"} {
		if strings.Contains(string(body), hidden) {
			t.Errorf("index of /pub/ shows %q:\n%s", hidden, body)
		}
	}
	_, body = svDo(t, ts, "GET", "/")
	if strings.Contains(string(body), ".secret") || strings.Contains(string(body), "outdir") {
		t.Errorf("root index shows hidden entries:\n%s", body)
	}
	// Server settings.
	srv := NewServer("127.0.0.1:0", h, nil)
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes != ServerMaxHeaderBytes {
		t.Errorf("NewServer timeouts: %+v", srv)
	}
}

// TestHandlerKeepAlive follows seed 003: HTTP/1.1 persistent by default,
// HTTP/1.0 only when asked, Connection: close honoured.
func TestHandlerKeepAlive(t *testing.T) {
	dir := svTree(t, map[string][]byte{"f": []byte("0123456789")})
	_, ts := svStart(t, dir, HandlerOptions{})
	addr := ts.Listener.Addr().String()

	// exchange sends req on c and reads a response; it reports whether the
	// server then closed the connection.
	exchange := func(c net.Conn, br *bufio.Reader, req string) (*http.Response, bool) {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = br.Peek(1)
		closed := err == io.EOF
		return resp, closed
	}
	for _, tc := range []struct {
		name       string
		req        string
		wantClosed bool
		connHeader string
	}{
		{"HTTP/1.1 default", "GET /f HTTP/1.1\r\nHost: x\r\n\r\n", false, ""},
		{"HTTP/1.1 close", "GET /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true, "close"},
		{"HTTP/1.0 default", "GET /f HTTP/1.0\r\n\r\n", true, "close"}, // implied by HTTP/1.0
		{"HTTP/1.0 keep-alive", "GET /f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, "keep-alive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			resp, closed := exchange(c, br, tc.req)
			// ReadResponse turns "Connection: close" into resp.Close.
			conn := resp.Header.Get("Connection")
			if resp.Close {
				conn = "close"
			}
			if resp.StatusCode != 200 || closed != tc.wantClosed || conn != tc.connHeader {
				t.Fatalf("status %d, closed %v (want %v), Connection %q (want %q)", resp.StatusCode, closed, tc.wantClosed, conn, tc.connHeader)
			}
			if !closed {
				// The same connection serves a second request.
				resp, _ := exchange(c, br, tc.req)
				if resp.StatusCode != 200 {
					t.Errorf("second request on the connection: %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestHandlerHTTP2OverTLS(t *testing.T) {
	dir := svTree(t, map[string][]byte{"f": svContent(70_000)})
	h, err := NewHandler(dir, HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/f", nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 206 || !bytes.Equal(body, svContent(70_000)[100:200]) {
		t.Errorf("%s %d, %d bytes", resp.Proto, resp.StatusCode, len(body))
	}
	if resp.Header.Get("Digest") == "" || resp.Header.Get("ETag") == "" {
		t.Errorf("HTTP/2 response lacks Digest or ETag: %v", resp.Header)
	}
}

func TestHandlerLogsNoSecrets(t *testing.T) {
	dir := svTree(t, map[string][]byte{"f": []byte("x")})
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := svLogger(&mu, &buf)
	_, ts := svStart(t, dir, HandlerOptions{Logger: logger})
	svDo(t, ts, "GET", "/f?token=s3cr3t-query", "Authorization", "Bearer s3cr3t-auth", "Cookie", "session=s3cr3t-cookie")
	svDo(t, ts, "GET", "/missing")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("log leaks a secret:\n%s", out)
	}
	if !strings.Contains(out, "path=/f") || !strings.Contains(out, "status=200") || !strings.Contains(out, "status=404") {
		t.Errorf("log lacks the requests:\n%s", out)
	}
}

func TestHandlerDirectories(t *testing.T) {
	data := svContent(2048)
	dir := svTree(t, map[string][]byte{"rel/v1/app.tar.gz": data, "rel/v1/app.tar.gz.meta4": []byte("<real/>"), "rel/<b>&.txt": []byte("x")})
	mirrors := []Mirror{{URL: "https://mirror.example/pub/", Priority: 1, Location: "se"}}
	_, ts := svStart(t, dir, HandlerOptions{Mirrors: mirrors})

	resp, _ := svDo(t, ts, "GET", "/rel")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/rel/" {
		t.Fatalf("GET /rel: %d at %s, want the index at /rel/ after a redirect", resp.StatusCode, resp.Request.URL.Path)
	}
	svDo(t, ts, "HEAD", "/rel/v1/app.tar.gz") // hash it: the index shows known hashes
	resp, body := svDo(t, ts, "GET", "/rel/v1/")
	page := string(body)
	sum := sha256.Sum256(data)
	for _, want := range []string{
		`href="./app.tar.gz"`,
		`href="./app.tar.gz.meta4"`,
		`href="https://mirror.example/pub/rel/v1/app.tar.gz"`,
		fmt.Sprintf("%x", sum),
		`title="2048 bytes"`,
		`href="../"`,
		`name="viewport"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index lacks %s:\n%s", want, page)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("index Content-Type %q", ct)
	}
	if resp, b := svDo(t, ts, "GET", "/rel/v1/", "Range", "bytes=0-0,200-200,400-400"); resp.StatusCode != 200 || !bytes.Equal(b, body) {
		t.Errorf("Range on the index: %d, %d bytes; want the whole page", resp.StatusCode, len(b))
	}
	// A real NAME.meta4 file wins over the generated one.
	resp, body = svDo(t, ts, "GET", "/rel/v1/app.tar.gz.meta4")
	if string(body) != "<real/>" || resp.Header.Get("Content-Type") != mediaMeta4 {
		t.Errorf("real .meta4: %q %q", body, resp.Header.Get("Content-Type"))
	}
	// Names are escaped in the page.
	_, body = svDo(t, ts, "GET", "/rel/")
	if strings.Contains(string(body), "<b>&") || !strings.Contains(string(body), "&lt;b&gt;&amp;.txt") {
		t.Errorf("index does not escape names:\n%s", body)
	}
}

// svLockedWriter serialises writes to w with mu.
type svLockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l svLockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func svLogger(mu *sync.Mutex, w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(svLockedWriter{mu, w}, nil))
}
