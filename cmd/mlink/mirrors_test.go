package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/publish"
)

// mirrorsFixture writes a metalink for 8 pieces of 1 KiB served by the given mirrors.
func mirrorsFixture(t *testing.T, data []byte, urls ...string) string {
	t.Helper()
	const pl = 1024
	sum := sha256.Sum256(data)
	p := metalink.Pieces{Length: pl, Type: "sha-256"}
	for off := 0; off < len(data); off += pl {
		s := sha256.Sum256(data[off:min(off+pl, len(data))])
		p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
	}
	f := metalink.File{Name: "f.bin", Size: int64(len(data)), Pieces: []metalink.Pieces{p},
		Hashes: []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}}}
	for i, u := range urls {
		f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: i + 1})
	}
	path := filepath.Join(t.TempDir(), "f.meta4")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := metalink.Encode(out, &metalink.Metalink{Files: []metalink.File{f}}, metalink.FormatV4); err != nil {
		t.Fatal(err)
	}
	return path
}

func mirrorsData() []byte {
	b := make([]byte, 8*1024)
	for i := range b {
		b[i] = byte(i*7 + i/1024)
	}
	return b
}

func TestMirrorsCheckAllGood(t *testing.T) {
	data := mirrorsData()
	a, b := mirrortest.Start(t, data), mirrortest.Start(t, data)
	ml := mirrorsFixture(t, data, a.URL(), b.URL())
	out, stderr, code := runCLI(t, "mirrors", "check", ml)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s\n%s", code, stderr, out)
	}
	for _, want := range []string{"VERDICT", a.URL(), b.URL(), "3/3", "2 mirrors: 2 ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if a.RangeRequestCount() != 4 || b.RangeRequestCount() != 4 {
		t.Errorf("range requests %d, %d; want a probe and 3 samples each", a.RangeRequestCount(), b.RangeRequestCount())
	}
}

func TestMirrorsCheckFailuresAndPrune(t *testing.T) {
	data := mirrorsData()
	good := mirrortest.Start(t, data)
	corrupt := mirrortest.Start(t, data, mirrortest.CorruptPieces(1024, 0, 1, 2, 3, 4, 5, 6))
	norange := mirrortest.Start(t, data, mirrortest.IgnoreRange())
	down := mirrortest.Start(t, data, mirrortest.Fail(503, 0, "60"))
	ml := mirrorsFixture(t, data, good.URL(), corrupt.URL(), norange.URL(), down.URL())

	out, stderr, code := runCLI(t, "mirrors", "check", ml, "--sample", "8")
	if code != exitVerify {
		t.Fatalf("exit %d, want %d (a mirror serves wrong bytes); stderr %s\n%s", code, exitVerify, stderr, out)
	}
	for _, want := range []string{"corrupt", "no-range", "down", "Retry-After 60", "1/8", "4 mirrors: 1 ok, 1 corrupt, 1 no-range, 1 down"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "3 of 4 mirrors failed") {
		t.Errorf("stderr = %q", stderr)
	}

	// --json carries the same verdicts.
	jout, _, code := runCLI(t, "mirrors", "check", ml, "--json", "--sample", "8")
	var rep struct {
		Failed  int                   `json:"failed"`
		Mirrors []publish.MirrorCheck `json:"mirrors"`
	}
	if err := json.Unmarshal([]byte(jout), &rep); err != nil || code != exitVerify {
		t.Fatalf("--json: %v, exit %d\n%s", err, code, jout)
	}
	got := []publish.Verdict{}
	for _, m := range rep.Mirrors {
		got = append(got, m.Verdict)
	}
	want := []publish.Verdict{publish.VerdictOK, publish.VerdictCorrupt, publish.VerdictNoRange, publish.VerdictDown}
	if rep.Failed != 3 || len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("json verdicts %v (failed %d), want %v", got, rep.Failed, want)
	}

	// --prune writes the metalink with the good mirror only.
	pruned := filepath.Join(t.TempDir(), "pruned.meta4")
	_, _, code = runCLI(t, "mirrors", "check", ml, "--prune", "-o", pruned)
	if code != exitVerify {
		t.Errorf("--prune exit %d, want %d (failures are still reported)", code, exitVerify)
	}
	pm, err := metalink.DecodeFile(pruned, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Files) != 1 || len(pm.Files[0].URLs) != 1 || pm.Files[0].URLs[0].URL != good.URL() {
		t.Errorf("pruned metalink URLs = %+v", pm.Files[0].URLs)
	}
	if len(pm.Files[0].Pieces) != 1 || pm.Files[0].Size != int64(len(data)) {
		t.Error("pruned metalink lost the file's description")
	}
}

func TestMirrorsCheckPruneRefusesEmptyFile(t *testing.T) {
	data := mirrorsData()
	down := mirrortest.Start(t, data, mirrortest.Fail(404, 0, ""))
	ml := mirrorsFixture(t, data, down.URL())
	pruned := filepath.Join(t.TempDir(), "pruned.meta4")
	_, stderr, code := runCLI(t, "mirrors", "check", ml, "--prune", "-o", pruned)
	if code != exitError || !strings.Contains(stderr, "every mirror") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(pruned); !os.IsNotExist(err) {
		t.Errorf("pruned file written anyway: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(pruned))
	if len(ents) != 0 {
		t.Errorf("left %d files behind", len(ents))
	}
}

func TestMirrorsCheckUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"mirrors", "check"}, exitUsage, ""},
		{[]string{"mirrors", "check", "x.meta4", "--prune"}, exitUsage, "needs -o"},
		{[]string{"mirrors", "check", "x.meta4", "-o", "y"}, exitUsage, "only used with --prune"},
		{[]string{"mirrors", "check", "x.meta4", "--sample", "-1"}, exitUsage, "--sample"},
		{[]string{"mirrors", "check", dir}, exitError, "is a directory"},
		{[]string{"mirrors", "check", filepath.Join(dir, "missing.meta4")}, exitError, "no such file"},
		{[]string{"mirrors", "check", "example.invalid/f.meta4"}, exitError, "https://example.invalid/f.meta4"},
		{[]string{"mirrors", "check", "x.meta4", "--ca-cert", filepath.Join(dir, "none.pem")}, exitError, "--ca-cert"},
	} {
		_, stderr, code := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("mlink %v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
}

func TestMirrorsCheckCACert(t *testing.T) {
	data := mirrorsData()
	m := mirrortest.Start(t, data, mirrortest.TLS())
	ml := mirrorsFixture(t, data, m.URL())
	out, _, code := runCLI(t, "mirrors", "check", ml)
	if code != exitError || !strings.Contains(out, "TLS") {
		t.Fatalf("self-signed mirror without --ca-cert: exit %d\n%s", code, out)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLI(t, "mirrors", "check", ml, "--ca-cert", ca)
	if code != exitOK || !strings.Contains(out, " ok ") {
		t.Fatalf("with --ca-cert: exit %d, %s\n%s", code, stderr, out)
	}
}
