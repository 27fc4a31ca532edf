package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
