package metalink

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// moduleRoot walks up from the package directory to the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// sharedDir returns ../shared/<rel> next to the module, or skips the test.
func sharedDir(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(moduleRoot(t), "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not present (%v): this test needs the shared corpus beside the module", p, err)
	}
	return p
}

// corpusFiles lists the real-world metalinks (not the manifest, notes or schemas).
func corpusFiles(t testing.TB) []string {
	t.Helper()
	dir := sharedDir(t, "testdata/realworld")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasSuffix(n, ".md") || strings.HasSuffix(n, ".tsv") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out
}

var sentinels = []error{ErrNotMetalink, ErrTooLarge, ErrUnsafeName, ErrBadHash, ErrBadPieces, ErrBadValue, ErrForbidden, ErrNoFiles, ErrSyntax}

func hasSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// docEqual compares the parts of two documents that survive encoding.
func docEqual(a, b *Metalink) bool {
	return a.Generator == b.Generator && a.Origin == b.Origin && a.Dynamic == b.Dynamic &&
		a.Published.Equal(b.Published) && a.Updated.Equal(b.Updated) && a.Lang == b.Lang &&
		reflect.DeepEqual(a.Files, b.Files)
}

// roundTrip encodes m in format f and decodes the result.
func roundTrip(t testing.TB, m *Metalink, f Format, opts *DecodeOptions) (*Metalink, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, m, f); err != nil {
		t.Fatalf("Encode(%s): %v", f, err)
	}
	m2, err := Decode(bytes.NewReader(buf.Bytes()), opts)
	if err != nil {
		t.Fatalf("decoding our own %s output: %v\n%s", f, err, buf.String())
	}
	if len(m2.Refused) > 0 {
		t.Fatalf("our own %s output has refused entries: %v", f, m2.Refused[0])
	}
	return m2, buf.Bytes()
}

// jingValidate validates v4 documents with jing against RFC 5854's schema in one run.
// It skips when jing is not installed.
func jingValidate(t *testing.T, files ...string) {
	t.Helper()
	jing, err := exec.LookPath("jing")
	if err != nil {
		t.Skip("jing not installed (apt-get install jing): RELAX NG validation skipped")
	}
	schema := filepath.Join(sharedDir(t, "spec"), "metalink4.rnc")
	out, err := exec.Command(jing, append([]string{"-c", schema}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("jing -c metalink4.rnc: %v\n%s", err, out)
	}
}
