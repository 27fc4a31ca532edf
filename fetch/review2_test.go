package fetch

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
