package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

const verifyPieceLen = 4096

// verifyTestData returns n deterministic bytes, different per seed.
func verifyTestData(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func verifyEntry(name string, data []byte) metalink.File {
	sum := sha256.Sum256(data)
	f := metalink.File{
		Name:   name,
		Size:   int64(len(data)),
		Hashes: []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}},
		URLs:   []metalink.URL{{URL: "https://mirror.example/" + name}},
	}
	p := metalink.Pieces{Length: verifyPieceLen, Type: "sha-256"}
	for off := 0; off < len(data); off += verifyPieceLen {
		s := sha256.Sum256(data[off:min(off+verifyPieceLen, len(data))])
		p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
	}
	f.Pieces = []metalink.Pieces{p}
	return f
}

// writeMetalink encodes files as a v4 metalink in dir and returns its path.
func writeMetalink(t *testing.T, dir string, files ...metalink.File) string {
	t.Helper()
	var buf bytes.Buffer
	if err := metalink.Encode(&buf, &metalink.Metalink{Files: files}, metalink.FormatV4); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "test.meta4")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeVerifyJSON(t *testing.T, out string) verifyReport {
	t.Helper()
	var rep verifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	return rep
}

func TestVerifySingleFile(t *testing.T) {
	dir := t.TempDir()
	data := verifyTestData(10*verifyPieceLen+100, 1) // 11 pieces
	ml := writeMetalink(t, t.TempDir(), verifyEntry("app.bin", data))
	file := filepath.Join(dir, "app.bin")

	flip := func(offs ...int) []byte {
		b := bytes.Clone(data)
		for _, o := range offs {
			b[o] ^= 0x80
		}
		return b
	}
	cases := []struct {
		name      string
		content   []byte // nil: no file
		code      int
		status    string
		badPieces []int
		ranges    []verify.Range
		text      []string
	}{
		{"good", data, exitOK, "good", nil, nil, []string{"app.bin: good", "sha-256 ok", "11 sha-256 pieces"}},
		{"flipped bytes in several pieces", flip(verifyPieceLen+1, 2*verifyPieceLen+2, 7*verifyPieceLen), exitVerify, "bad",
			[]int{1, 2, 7}, []verify.Range{{Off: verifyPieceLen, End: 3 * verifyPieceLen}, {Off: 7 * verifyPieceLen, End: 8 * verifyPieceLen}},
			[]string{"app.bin: BAD", "sha-256 MISMATCH", "bad bytes 4096-12287 (8.0 KiB), pieces 1-2", "bad bytes 28672-32767 (4.0 KiB), piece 7"}},
		{"truncated", data[:5*verifyPieceLen+10], exitVerify, "bad",
			[]int{5, 6, 7, 8, 9, 10}, []verify.Range{{Off: 5 * verifyPieceLen, End: int64(len(data))}},
			[]string{"bytes short", "sha-256 not computed"}},
		{"extended", append(bytes.Clone(data), 0, 0, 0), exitVerify, "bad", nil, nil, []string{"3 bytes too long"}},
		{"missing", nil, exitVerify, "missing", nil, nil, []string{"app.bin: MISSING"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(file)
			if tc.content != nil {
				if err := os.WriteFile(file, tc.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, stderr, code := runCLI(t, "verify", ml, file)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, stderr)
			}
			for _, want := range tc.text {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			out, _, code = runCLI(t, "verify", "--json", ml, file)
			rep := decodeVerifyJSON(t, out)
			if code != tc.code || len(rep.Files) != 1 || rep.Good != (tc.code == exitOK) {
				t.Fatalf("--json: exit %d, report %+v", code, rep)
			}
			fr := rep.Files[0]
			if fr.Status != tc.status {
				t.Errorf("status %q, want %q", fr.Status, tc.status)
			}
			if fr.Result != nil {
				if !reflect.DeepEqual(fr.Result.BadPieces, tc.badPieces) {
					t.Errorf("bad pieces %v, want %v", fr.Result.BadPieces, tc.badPieces)
				}
				if !reflect.DeepEqual(fr.Result.BadRanges, tc.ranges) {
					t.Errorf("bad ranges %v, want %v", fr.Result.BadRanges, tc.ranges)
				}
			}
		})
	}
}

func TestVerifyDefaultPathAndDirectory(t *testing.T) {
	dir := t.TempDir()
	data := verifyTestData(3*verifyPieceLen, 2)
	ml := writeMetalink(t, t.TempDir(), verifyEntry("sub/app.bin", data))
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "app.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// PATH given as the directory holding the file.
	if out, stderr, code := runCLI(t, "verify", ml, dir); code != exitOK {
		t.Fatalf("verify META DIR: exit %d\n%s%s", code, out, stderr)
	}
	// No PATH: the metalink's name in the current directory.
	t.Chdir(dir)
	out, stderr, code := runCLI(t, "verify", ml)
	if code != exitOK || !strings.Contains(out, "sub/app.bin: good") {
		t.Fatalf("verify META: exit %d\n%s%s", code, out, stderr)
	}
}

func TestVerifyMultiFile(t *testing.T) {
	dir := t.TempDir()
	a := verifyTestData(2*verifyPieceLen+1, 3)
	b := verifyTestData(5*verifyPieceLen, 4)
	c := verifyTestData(100, 5)
	ml := writeMetalink(t, t.TempDir(), verifyEntry("a.bin", a), verifyEntry("d/b.bin", b), verifyEntry("c.bin", c))
	os.MkdirAll(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "a.bin"), a, 0o644)
	bad := bytes.Clone(b)
	bad[3*verifyPieceLen+9] ^= 1
	os.WriteFile(filepath.Join(dir, "d", "b.bin"), bad, 0o644)
	// c.bin is missing.

	out, _, code := runCLI(t, "verify", "--json", ml, dir)
	if code != exitVerify {
		t.Fatalf("exit %d, want %d\n%s", code, exitVerify, out)
	}
	rep := decodeVerifyJSON(t, out)
	got := map[string]string{}
	for _, f := range rep.Files {
		got[f.Name] = f.Status
	}
	if want := map[string]string{"a.bin": "good", "d/b.bin": "bad", "c.bin": "missing"}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if rep.Files[1].Result == nil || !reflect.DeepEqual(rep.Files[1].Result.BadPieces, []int{3}) {
		t.Errorf("d/b.bin bad pieces: %+v", rep.Files[1].Result)
	}
	// Once repaired and present, all good.
	os.WriteFile(filepath.Join(dir, "d", "b.bin"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "c.bin"), c, 0o644)
	if out, _, code := runCLI(t, "verify", ml, dir); code != exitOK {
		t.Fatalf("exit %d after repair\n%s", code, out)
	}
}

// TestVerifySymlinkEscape: a metalink name that resolves through a symlink out of the
// target directory is not followed (SECURITY.md rule 5, case 30).
func TestVerifySymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	data := verifyTestData(1000, 6)
	os.WriteFile(filepath.Join(outside, "secret"), data, 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "a")); err != nil {
		t.Skip("symlinks unavailable:", err)
	}
	other := verifyTestData(10, 7)
	os.WriteFile(filepath.Join(dir, "b.bin"), other, 0o644)
	ml := writeMetalink(t, t.TempDir(), verifyEntry("a/secret", data), verifyEntry("b.bin", other))
	out, _, code := runCLI(t, "verify", "--json", ml, dir)
	rep := decodeVerifyJSON(t, out)
	if code != exitError || rep.Files[0].Status != "error" || !strings.Contains(rep.Files[0].Error, "escapes") {
		t.Fatalf("exit %d, report %+v", code, rep.Files)
	}
	if rep.Files[1].Status != "good" {
		t.Errorf("the other file: %+v", rep.Files[1])
	}
}

func TestVerifyErrors(t *testing.T) {
	dir := t.TempDir()
	data := verifyTestData(1000, 8)
	ml := writeMetalink(t, dir, verifyEntry("x.bin", data))
	os.Mkdir(filepath.Join(dir, "x.bin"), 0o755)
	// The file is a directory inside the given directory: an I/O-class error, exit 1.
	if out, _, code := runCLI(t, "verify", ml, dir); code != exitError || !strings.Contains(out, "not a regular file") {
		t.Errorf("directory in place of the file: exit %d\n%s", code, out)
	}
	// Not a metalink: exit 3; no such metalink: exit 1; no arguments: exit 2.
	junk := filepath.Join(dir, "junk.meta4")
	os.WriteFile(junk, []byte("<html>nope</html>"), 0o644)
	if _, _, code := runCLI(t, "verify", junk); code != exitVerify {
		t.Errorf("not a metalink: exit %d, want %d", code, exitVerify)
	}
	if _, _, code := runCLI(t, "verify", filepath.Join(dir, "none.meta4")); code != exitError {
		t.Errorf("missing metalink: exit %d, want %d", code, exitError)
	}
	if _, _, code := runCLI(t, "verify"); code != exitUsage {
		t.Errorf("no arguments: exit %d, want %d", code, exitUsage)
	}
	// An entry with no supported hash cannot be verified: exit 3.
	f := verifyEntry("y.bin", data)
	f.Hashes, f.Pieces = []metalink.Hash{{Type: "sha3-999", Value: "ab"}}, nil
	mlNoHash := writeMetalink(t, t.TempDir(), f)
	y := filepath.Join(dir, "y.bin")
	os.WriteFile(y, data, 0o644)
	out, _, code := runCLI(t, "verify", mlNoHash, y)
	if code != exitVerify || !strings.Contains(out, "CANNOT VERIFY") {
		t.Errorf("no supported hash: exit %d\n%s", code, out)
	}
}

// TestVerifyRefusedEntry: an entry the metalink check refuses (unsafe name) is reported
// and fails the run, while the acceptable entries are still verified.
func TestVerifyRefusedEntry(t *testing.T) {
	dir := t.TempDir()
	data := verifyTestData(100, 9)
	sum := sha256.Sum256(data)
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="../evil"><size>100</size><hash type="sha-256">` + hex.EncodeToString(sum[:]) + `</hash><url>https://m.example/evil</url></file>
  <file name="ok.bin"><size>100</size><hash type="sha-256">` + hex.EncodeToString(sum[:]) + `</hash><url>https://m.example/ok.bin</url></file>
</metalink>`
	ml := filepath.Join(t.TempDir(), "r.meta4")
	os.WriteFile(ml, []byte(doc), 0o644)
	os.WriteFile(filepath.Join(dir, "ok.bin"), data, 0o644)
	out, _, code := runCLI(t, "verify", "--json", ml, dir)
	rep := decodeVerifyJSON(t, out)
	if code != exitVerify || rep.Good || len(rep.Refused) != 1 || !strings.Contains(rep.Refused[0], "../evil") {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	if len(rep.Files) != 1 || rep.Files[0].Status != "good" {
		t.Errorf("accepted entry: %+v", rep.Files)
	}
}
