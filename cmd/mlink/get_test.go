package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
)

// getFixture writes a .meta4 for size random bytes served by n httptest mirrors
// (the first one answering 200 to every Range request) and returns its path and the data.
func getFixture(t *testing.T, size, plen int, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	var urls strings.Builder
	for i := 0; i < n; i++ {
		noRange := i == 0
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if noRange {
				r.Header.Del("Range")
			} else {
				// The range-less mirror's 200 arrives before the others have
				// served everything, so it is always seen and judged.
				time.Sleep(20 * time.Millisecond)
			}
			http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(data))
		}))
		t.Cleanup(s.Close)
		fmt.Fprintf(&urls, "    <url priority=\"%d\">%s/f.bin</url>\n", i+1, s.URL)
	}
	var pieces strings.Builder
	for off := 0; off < size; off += plen {
		s := sha256.Sum256(data[off:min(off+plen, size)])
		fmt.Fprintf(&pieces, "      <hash>%x</hash>\n", s)
	}
	whole := sha256.Sum256(data)
	doc := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="f.bin">
    <size>%d</size>
    <hash type="sha-256">%s</hash>
    <pieces length="%d" type="sha-256">
%s    </pieces>
%s  </file>
</metalink>
`, size, hex.EncodeToString(whole[:]), plen, pieces.String(), urls.String())
	p := filepath.Join(t.TempDir(), "f.meta4")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func TestGetCommand(t *testing.T) {
	meta, data := getFixture(t, 300<<10, 16<<10, 3)
	dir := t.TempDir()
	stdout, stderr, code := runCLI(t, "get", meta, "-d", dir, "--json", "--progress", "plain")
	if code != exitOK {
		t.Fatalf("mlink get exited %d: %s", code, stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "f.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (err %v)", err)
	}
	var res getResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	f := res.Metalinks[0].Report.Files[0]
	if f.State != "done" || len(f.Mirrors) != 3 {
		t.Fatalf("report = %+v", f)
	}
	// The range-less mirror was recognised and sent nothing that was used.
	var noRange int
	for _, m := range f.Mirrors {
		if m.State == "no-range" {
			noRange++
			if m.Good != 0 {
				t.Errorf("range-less mirror delivered %d good bytes", m.Good)
			}
		}
	}
	if noRange != 1 {
		t.Errorf("%d mirrors reported no-range, want 1: %+v", noRange, f.Mirrors)
	}

	// Again: the file is complete, nothing is fetched, exit 0.
	stdout, stderr, code = runCLI(t, "get", meta, "-d", dir, "--json")
	if code != exitOK || !strings.Contains(stdout, `"already-complete"`) {
		t.Fatalf("second get exited %d, stdout %s, stderr %s", code, stdout, stderr)
	}
	// A different existing file is not overwritten: exit 1, content unchanged.
	other := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(other, []byte("mine"), 0o644)
	_, stderr, code = runCLI(t, "get", meta, "-d", filepath.Dir(other))
	if b, _ := os.ReadFile(other); code != exitError || string(b) != "mine" {
		t.Fatalf("get over a different file exited %d (%s), file now %q", code, stderr, b)
	}
}

func TestGetCommandUsage(t *testing.T) {
	for _, args := range [][]string{{"get"}, {"get", "x.meta4", "--limit-rate", "fast"}, {"get", "a", "b", "-o", "x"}} {
		if _, stderr, code := runCLI(t, args...); code != exitUsage {
			t.Errorf("mlink %v exited %d (%s), want 2", args, code, stderr)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "100": 100, "2k": 2048, "1.5M": 3 << 19, "1g": 1 << 30,
		"20MiB": 20 << 20, "20MB/s": 20 << 20, "512 KiB": 512 << 10, "1.5GiB": 3 << 29} {
		if got, err := getParseRate(in); err != nil || got != want {
			t.Errorf("getParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"fast", "-1M", "+1M", "1e3", "0x10", "NaN", "Inf", "M", "2PiB", "1..5M"} {
		if got, err := getParseRate(in); err == nil {
			t.Errorf("getParseRate(%q) = %d, accepted", in, got)
		}
	}
}

// Case 65: the credentials used to fetch the metalink never reach a mirror.
func TestGetMetalinkURLCredentialsStayHome(t *testing.T) {
	data := bytes.Repeat([]byte("mlink"), 40000)
	m1 := mirrortest.Start(t, data)
	m2 := mirrortest.Start(t, data, mirrortest.Latency(5*time.Millisecond))
	whole := sha256.Sum256(data)
	var doc string
	var sawAuth bool
	var sameOriginAuth atomic.Bool
	var sameOriginServed atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mirror/f.bin" { // a mirror on the metalink's own origin
			if r.Header.Get("Authorization") != "" {
				sameOriginAuth.Store(true)
			}
			sameOriginServed.Add(1)
			http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(data))
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok || u != "user" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		sawAuth = true
		w.Header().Set("Content-Type", "application/metalink4+xml")
		io.WriteString(w, doc)
	}))
	t.Cleanup(origin.Close)
	doc = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="f.bin"><size>%d</size><hash type="sha-256">%x</hash>
    <url priority="1">%s</url><url priority="2">%s</url><url priority="1">%s/mirror/f.bin</url>
  </file>
</metalink>`, len(data), whole, m2.URL(), m1.URL(), origin.URL)
	src := strings.Replace(origin.URL, "http://", "http://user:secret@", 1) + "/f.meta4"
	dir := t.TempDir()
	_, stderr, code := runCLI(t, "get", src, "-d", dir, "--quiet")
	if code != exitOK || !sawAuth {
		t.Fatalf("exit %d (auth seen %v): %s", code, sawAuth, stderr)
	}
	if strings.Contains(stderr, "secret") {
		t.Errorf("the password was printed: %s", stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.bin")); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	for _, m := range []*mirrortest.Mirror{m1, m2} {
		if m.SawHeader("Authorization") || m.SawHeader("Cookie") {
			t.Errorf("mirror %s saw the metalink's credentials", m.URL())
		}
	}
	if sameOriginServed.Load() == 0 || sameOriginAuth.Load() {
		t.Errorf("mirror on the metalink's origin: %d requests, saw credentials %v; want used, and no credentials", sameOriginServed.Load(), sameOriginAuth.Load())
	}
}

func TestGetExitCodes(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 64<<10)
	bad := mirrortest.Start(t, data, mirrortest.CorruptFraction(16<<10, 1, 1))
	doc := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="f.bin"><size>%d</size><hash type="sha-256">%x</hash><url>%s</url></file>
</metalink>`, len(data), sha256.Sum256(data), bad.URL())
	meta := filepath.Join(t.TempDir(), "f.meta4")
	os.WriteFile(meta, []byte(doc), 0o644)
	dir := t.TempDir()
	if _, stderr, code := runCLI(t, "get", meta, "-d", dir, "-q"); code != exitVerify {
		t.Errorf("corrupt only mirror: exit %d, want 3 (%s)", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	nohash := strings.Replace(doc, fmt.Sprintf(`<hash type="sha-256">%x</hash>`, sha256.Sum256(data)), "", 1)
	os.WriteFile(meta, []byte(nohash), 0o644)
	if _, _, code := runCLI(t, "get", meta, "-d", dir, "-q"); code != exitVerify {
		t.Errorf("no hash: exit %d, want 3", code)
	}
	if _, _, code := runCLI(t, "get", filepath.Join(dir, "missing.meta4"), "-q"); code != exitError {
		t.Errorf("missing metalink: exit %d, want 1", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, stderr, code := runCLIContext(t, ctx, "", "get", meta, "-d", dir, "-q", "--insecure-no-hash"); code != exitInterrupted ||
		strings.TrimSpace(stderr) != "mlink: interrupted; run the same command again to resume" {
		t.Errorf("cancelled: exit %d, stderr %q; want 130 and one line saying how to resume", code, stderr)
	}
}

// An interrupted multi-file run reports the interruption once, keeping the errors
// that are not cancellations.
func TestGetWithoutCancel(t *testing.T) {
	bad := errors.New("f1.bin: piece 3: no usable source")
	joined := errors.Join(fmt.Errorf("f2.bin: %w", context.Canceled), bad, fmt.Errorf("f3.bin: %w", context.Canceled))
	got := getWithoutCancel([]error{joined, fmt.Errorf("x.meta4: %w", context.DeadlineExceeded)})
	if len(got) != 1 || got[0] != bad {
		t.Fatalf("getWithoutCancel = %v, want only %v", got, bad)
	}
}
