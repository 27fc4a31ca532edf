package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// repairServe publishes a random file with `mlink serve` and returns its bytes, the
// URL of its metalink and the decoded metalink.
func repairServe(t *testing.T, size int) ([]byte, string, *metalink.Metalink) {
	t.Helper()
	pub := t.TempDir()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(filepath.Join(pub, "app.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, pub, "--addr", "127.0.0.1:0", "--quiet")
	metaURL := base + "/app.bin.meta4"
	resp, err := http.Get(metaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, err := metalink.Decode(resp.Body, &metalink.DecodeOptions{BaseURL: metaURL})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 1 || len(m.Files[0].Pieces) == 0 {
		t.Fatalf("served metalink has no piece hashes: %+v", m.Files)
	}
	return data, metaURL, m
}

func TestRepairCommand(t *testing.T) {
	data, metaURL, m := repairServe(t, 5<<20+777)
	plen := m.Files[0].Pieces[0].Length
	n := (int64(len(data)) + plen - 1) / plen
	if n < 6 {
		t.Fatalf("only %d pieces of %d bytes; the test needs at least 6", n, plen)
	}
	lastLen := int64(len(data)) - (n-1)*plen
	local := filepath.Join(t.TempDir(), "mine.bin")
	d := bytes.Clone(data)
	d[plen+5] ^= 0x40               // piece 1
	clear(d[3*plen : 3*plen+10])    // piece 3
	d = d[:int64(len(d))-lastLen/2] // the last piece, short
	if err := os.WriteFile(local, d, 0o644); err != nil {
		t.Fatal(err)
	}
	badBytes := 2*plen + lastLen

	stdout, stderr, code := runCLI(t, "repair", metaURL, local, "--json")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(local); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("repaired file's sha-256 differs from the published file")
	}
	var res struct {
		Good  bool `json:"good"`
		Files []struct {
			Path              string `json:"path"`
			State             string `json:"state"`
			BadPieces         []int  `json:"bad_pieces"`
			BadBytes          int64  `json:"bad_bytes"`
			Repaired          int    `json:"repaired"`
			Bytes             int64  `json:"bytes"`
			Requests          int    `json:"requests"`
			MultipartRequests int    `json:"multipart_requests"`
			Hash              string `json:"hash"`
			HashChecked       bool   `json:"hash_checked"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Files) != 1 {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	f := res.Files[0]
	if !res.Good || f.State != "repaired" || f.Path != local || f.Repaired != 3 || len(f.BadPieces) != 3 || f.BadBytes != badBytes {
		t.Errorf("report %+v; want 3 pieces (%d bytes) repaired in %s", f, badBytes, local)
	}
	// publish.Handler answers the three ranges in one multipart/byteranges response.
	if f.Bytes < badBytes || f.Bytes > badBytes+badBytes/100 || f.Requests != 1 || f.MultipartRequests != 1 {
		t.Errorf("fetched %d bytes in %d requests (%d multi-range) for %d bad bytes; want about the bad bytes in 1 multipart request",
			f.Bytes, f.Requests, f.MultipartRequests, badBytes)
	}
	if !f.HashChecked || !strings.HasPrefix(f.Hash, "sha-256:") {
		t.Errorf("whole-file hash %q checked %v", f.Hash, f.HashChecked)
	}

	// Again: nothing to do, said in words.
	stdout, stderr, code = runCLI(t, "repair", metaURL, local)
	if code != exitOK || !strings.Contains(stdout, "good, nothing to repair (sha-256 ok)") {
		t.Errorf("second run: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestRepairCommandHumanOutput(t *testing.T) {
	data, metaURL, m := repairServe(t, 1<<20)
	plen := m.Files[0].Pieces[0].Length
	dir := t.TempDir()
	d := bytes.Clone(data)
	d[0] ^= 1
	// PATH is a directory: the file has the metalink's name in it.
	if err := os.WriteFile(filepath.Join(dir, "app.bin"), d, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "repair", metaURL, dir)
	want := "repaired 1 piece (" + humanBytes(float64(min(plen, int64(len(data))))) + " bad), fetched"
	if code != exitOK || !strings.Contains(stdout, want) || !strings.Contains(stdout, "from 1 mirror in 1 request, sha-256 ok") {
		t.Errorf("exit %d, stdout %q, want %q...; stderr:\n%s", code, stdout, want, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "app.bin")); !bytes.Equal(got, data) {
		t.Error("file not repaired")
	}
}

func TestRepairCommandErrors(t *testing.T) {
	data, metaURL, m := repairServe(t, 256<<10)
	dir := t.TempDir()

	// A missing file: exit 1, pointing at mlink get.
	stdout, stderr, code := runCLI(t, "repair", metaURL, filepath.Join(dir, "nope.bin"))
	if code != exitError || !strings.Contains(stdout, "download it with mlink get") {
		t.Errorf("missing file: exit %d, stdout %q, stderr %q; want 1 and a hint to use mlink get", code, stdout, stderr)
	}
	if _, stderr, code := runCLI(t, "repair", metaURL, filepath.Join(dir, "nope.bin"), "-q"); code != exitError || !strings.Contains(stderr, "mlink get") {
		t.Errorf("missing file, -q: exit %d, stderr %q; want 1 and the hint on stderr", code, stderr)
	}

	// No mirror can supply the bad piece: exit 3, file unchanged.
	f := m.Files[0]
	f.URLs = []metalink.URL{{URL: strings.TrimSuffix(metaURL, "app.bin.meta4") + "gone.bin"}} // 404
	var buf bytes.Buffer
	if err := metalink.Encode(&buf, &metalink.Metalink{Files: []metalink.File{f}}, metalink.FormatV4); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(dir, "dead.meta4")
	os.WriteFile(meta, buf.Bytes(), 0o644)
	local := filepath.Join(dir, "app.bin")
	d := bytes.Clone(data)
	d[100] ^= 1
	os.WriteFile(local, d, 0o644)
	stdout, stderr, code = runCLI(t, "repair", meta, local)
	if code != exitVerify || !strings.Contains(stdout, "NOT REPAIRED") || !strings.Contains(stdout, "no usable source") ||
		!strings.Contains(stderr, "1 of 1 files not repaired") {
		t.Errorf("no source: exit %d\nstdout %q\nstderr %q; want 3", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(local); !bytes.Equal(got, d) {
		t.Error("the file changed although nothing could be fetched")
	}

	// No piece hashes: refused with exit 3 and a hint.
	f.Pieces = nil
	buf.Reset()
	metalink.Encode(&buf, &metalink.Metalink{Files: []metalink.File{f}}, metalink.FormatV4)
	os.WriteFile(meta, buf.Bytes(), 0o644)
	_, stderr, code = runCLI(t, "repair", meta, local, "-q")
	if code != exitVerify || !strings.Contains(stderr, "mlink get --overwrite") {
		t.Errorf("no piece hashes: exit %d, stderr %q; want 3 and a hint", code, stderr)
	}

	// Usage.
	if _, _, code := runCLI(t, "repair"); code != exitUsage {
		t.Errorf("no argument: exit %d, want 2", code)
	}
	if out, _, code := runCLI(t, "repair", "--help"); code != exitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit codes:") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

// repairMeta4 writes a metalink for f with urls as its only mirrors and returns its path.
func repairMeta4(t *testing.T, f metalink.File, urls ...string) string {
	t.Helper()
	f.URLs = nil
	for _, u := range urls {
		f.URLs = append(f.URLs, metalink.URL{URL: u})
	}
	var buf bytes.Buffer
	if err := metalink.Encode(&buf, &metalink.Metalink{Files: []metalink.File{f}}, metalink.FormatV4); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "app.bin.meta4")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRepairCommandNginx: nginx answers several ranges with multipart/byteranges too.
func TestRepairCommandNginx(t *testing.T) {
	data, _, m := repairServe(t, 4<<20+99)
	pub := t.TempDir()
	os.WriteFile(filepath.Join(pub, "app.bin"), data, 0o644)
	meta := repairMeta4(t, m.Files[0], startNginx(t, pub)+"/app.bin")
	plen := m.Files[0].Pieces[0].Length
	local := filepath.Join(t.TempDir(), "app.bin")
	d := bytes.Clone(data)
	d[10] ^= 1
	d[2*plen+10] ^= 1
	os.WriteFile(local, d, 0o644)
	stdout, stderr, code := runCLI(t, "repair", meta, local, "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(local); !bytes.Equal(got, data) {
		t.Fatal("file not repaired")
	}
	var res struct {
		Files []struct {
			Bytes             int64 `json:"bytes"`
			Requests          int   `json:"requests"`
			MultipartRequests int   `json:"multipart_requests"`
		} `json:"files"`
	}
	json.Unmarshal([]byte(stdout), &res)
	if len(res.Files) != 1 || res.Files[0].Requests != 1 || res.Files[0].MultipartRequests != 1 || res.Files[0].Bytes != 2*plen {
		t.Errorf("report %+v; want 2 pieces (%d bytes) in one multipart request", res.Files, 2*plen)
	}
}

// TestRepairCommandInterrupted: a repair cancelled (as by SIGINT) exits 130 and
// leaves the file no worse; the same command then completes.
func TestRepairCommandInterrupted(t *testing.T) {
	data, _, m := repairServe(t, 2<<20)
	slow := mirrortest.Start(t, data, mirrortest.Throttle(256<<10))
	meta := repairMeta4(t, m.Files[0], slow.URL())
	local := filepath.Join(t.TempDir(), "app.bin")
	d := bytes.Clone(data)
	for i := 0; i < len(d); i += 4096 {
		d[i] ^= 1 // every piece bad
	}
	os.WriteFile(local, d, 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for slow.BytesServed() == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	_, stderr, code := runCLIContext(t, ctx, "", "repair", meta, local)
	cancel()
	if code != exitInterrupted || !strings.Contains(stderr, "run the same command again") {
		t.Fatalf("exit %d, stderr %q; want 130 and how to continue", code, stderr)
	}
	got, _ := os.ReadFile(local)
	plen := m.Files[0].Pieces[0].Length
	for off := int64(0); off < int64(len(data)); off += plen {
		end := min(off+plen, int64(len(data)))
		if !bytes.Equal(got[off:end], d[off:end]) && !bytes.Equal(got[off:end], data[off:end]) {
			t.Errorf("piece at %d is neither its old nor its right content", off)
		}
	}
	good := mirrortest.Start(t, data)
	meta = repairMeta4(t, m.Files[0], good.URL())
	if _, stderr, code := runCLI(t, "repair", meta, local); code != exitOK {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	if got, _ := os.ReadFile(local); !bytes.Equal(got, data) {
		t.Fatal("file not repaired by the rerun")
	}
}
