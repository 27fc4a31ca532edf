package publish

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeBrowserIndex (issue 4 item 5) drives headless Chromium against
// the index page: it loads the index, finds the file links in the DOM the
// browser built, follows them (a text file rendered by the browser, a binary
// file checked byte for byte with its headers), and saves screenshots of
// the index at desktop and phone sizes as test artifacts (directory
// $MLINK_ARTIFACTS, else a temporary one).
func TestServeBrowserIndex(t *testing.T) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		t.Skip("chromium not installed (apt-get install chromium): browser test skipped")
	}
	artifacts := os.Getenv("MLINK_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	bin := svContent(1<<20 + 17)
	dir := svTree(t, map[string][]byte{
		"releases/app-1.2.3-linux-amd64.tar.gz": bin,
		"releases/NOTES.txt":                    []byte("mlink release notes: all good\n"),
		"releases/.hidden":                      []byte("nope"),
		"releases/old/app-1.2.2.tar.gz":         []byte("old"),
	})
	h := mustHandlerOpts(t, dir, HandlerOptions{Mirrors: []Mirror{
		{URL: "https://mirror-a.example/pub/", Priority: 1, Location: "de"},
		{URL: "https://mirror-b.example/pub/", Priority: 2, Location: "us"},
	}})
	var mu sync.Mutex
	agents := map[string]string{} // path -> User-Agent of the last GET
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents[r.URL.Path] = r.UserAgent()
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	// Hash the binary first, so the index shows its sha-256.
	svDo(t, ts, "HEAD", "/releases/app-1.2.3-linux-amd64.tar.gz")

	profile := t.TempDir()
	browse := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-dev-shm-usage", "--user-data-dir=" + profile}
		cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String()
	}

	indexURL := ts.URL + "/releases/"
	dom := browse("--dump-dom", indexURL)
	mu.Lock()
	ua := agents["/releases/"]
	mu.Unlock()
	if !strings.Contains(ua, "HeadlessChrome") {
		t.Fatalf("the index was not fetched by Chromium (User-Agent %q)", ua)
	}
	if strings.Contains(dom, ".hidden") {
		t.Errorf("index DOM shows a dotfile")
	}
	// The links Chromium parsed: <a class="name" href="...">.
	links := map[string]string{}
	for _, m := range regexp.MustCompile(`<a class="name" href="([^"]+)">([^<]+)</a>`).FindAllStringSubmatch(dom, -1) {
		links[m[2]] = m[1]
	}
	for _, want := range []string{"app-1.2.3-linux-amd64.tar.gz", "NOTES.txt", "old/", "../"} {
		if links[want] == "" {
			t.Errorf("index DOM has no link named %q; links %v", want, links)
		}
	}
	for _, want := range []string{"app-1.2.3-linux-amd64.tar.gz.meta4", "https://mirror-a.example/pub/releases/app-1.2.3-linux-amd64.tar.gz", "mirror-b.example (us)"} {
		if !strings.Contains(dom, want) {
			t.Errorf("index DOM lacks %q", want)
		}
	}
	resolve := func(href string) string {
		base, _ := url.Parse(indexURL)
		ref, err := url.Parse(href)
		if err != nil {
			t.Fatalf("bad href %q: %v", href, err)
		}
		return base.ResolveReference(ref).String()
	}

	// Click through to the text file: the browser renders it.
	notes := browse("--dump-dom", resolve(links["NOTES.txt"]))
	if !strings.Contains(notes, "mlink release notes: all good") {
		t.Errorf("the browser did not show NOTES.txt:\n%s", notes)
	}
	// Follow the binary's link: the bytes and the headers a download needs.
	resp, err := http.Get(resolve(links["app-1.2.3-linux-amd64.tar.gz"]))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got.Bytes(), bin) {
		t.Errorf("binary link: %d, %d bytes", resp.StatusCode, got.Len())
	}
	for _, k := range []string{"ETag", "Digest", "Link", "Accept-Ranges", "Last-Modified"} {
		if resp.Header.Get(k) == "" {
			t.Errorf("binary response lacks %s", k)
		}
	}

	// Screenshots at desktop and phone widths.
	for _, shot := range []struct{ name, size string }{{"index-desktop.png", "1280,800"}, {"index-phone.png", "390,844"}} {
		p := filepath.Join(artifacts, shot.name)
		browse("--screenshot="+p, "--window-size="+shot.size, "--hide-scrollbars", indexURL)
		b, err := os.ReadFile(p)
		if err != nil || len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("screenshot %s: %v, %d bytes", p, err, len(b))
			continue
		}
		t.Logf("screenshot saved: %s (%d bytes)", p, len(b))
	}
}
