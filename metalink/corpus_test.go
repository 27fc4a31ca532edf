package metalink

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const corpusBase = "https://metalink.example/dir/doc.meta4"

// TestCorpus decodes every real-world metalink: each one decodes or fails with a
// sentinel error, never panics; every decodable one survives
// decode -> encode -> decode unchanged in its own format, and its v4 encoding
// validates against RFC 5854's schema.
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) < 50 {
		t.Fatalf("only %d corpus files found", len(files))
	}
	v4dir := t.TempDir()
	var v4files []string
	decoded := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			m, err := DecodeFile(path, &DecodeOptions{BaseURL: corpusBase})
			if err != nil {
				if !hasSentinel(err) {
					t.Fatalf("error without a sentinel: %v", err)
				}
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name the file: %v", err)
				}
				if m == nil || len(m.Files) == 0 {
					t.Logf("refused: %v", err)
					return
				}
			}
			for _, r := range m.Refused {
				if r.Err == nil || !hasSentinel(r) || r.Element == "" {
					t.Errorf("refusal without sentinel or element: %#v", r)
				}
			}
			for _, f := range m.Files {
				if err := CheckName(f.Name); err != nil {
					t.Errorf("accepted an unsafe name: %v", err)
				}
			}
			decoded++
			m2, _ := roundTrip(t, m, m.Format, &DecodeOptions{BaseURL: corpusBase})
			if !docEqual(m, m2) {
				t.Errorf("decode -> encode(%s) -> decode changed the document:\nbefore %+v\nafter  %+v", m.Format, m.Files, m2.Files)
			}
			// Across formats the essentials survive: names, sizes, hashes, pieces, mirror URLs.
			for _, f := range []Format{FormatV4, FormatV3, FormatMirrorManager} {
				m3, _ := roundTrip(t, m, f, nil)
				if !sameEssentials(m, m3) {
					t.Errorf("conversion to %s lost essentials:\nbefore %+v\nafter  %+v", f, m.Files, m3.Files)
				}
			}
			out := filepath.Join(v4dir, name+".meta4")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := Encode(f, m, FormatV4); err != nil {
				t.Fatal(err)
			}
			f.Close()
			v4files = append(v4files, out)
		})
	}
	t.Logf("%d of %d corpus files decoded", decoded, len(files))
	if len(v4files) > 0 {
		jingValidate(t, v4files...)
	}
}

func decodeCorpus(t *testing.T, name string) *Metalink {
	t.Helper()
	dir := sharedDir(t, "testdata/realworld")
	m, err := DecodeFile(filepath.Join(dir, name), &DecodeOptions{BaseURL: corpusBase})
	if err != nil && !errors.Is(err, ErrNoFiles) {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func TestCorpusMirrorBrain(t *testing.T) {
	m := decodeCorpus(t, "libmetalink-LibO_3.5.4_Win_x86_install_multi.msi.meta4")
	if len(m.Files) != 1 {
		t.Fatalf("got %d files, want 1", len(m.Files))
	}
	f := m.Files[0]
	if len(f.URLs) != 76 {
		t.Errorf("got %d mirrors, want 76", len(f.URLs))
	}
	for _, u := range f.URLs {
		if strings.Contains(u.URL, "www.documentfoundation.org") {
			t.Errorf("publisher URL taken as a mirror: %s", u.URL)
		}
	}
	p := f.StrongestPieces()
	if p == nil || p.Type != "sha-1" || len(p.Hashes) != 808 || p.Length != 262144 {
		t.Fatalf("pieces = %+v, want 808 sha-1 pieces of 262144", p)
	}
	if h, ok := f.StrongestHash(); !ok || h.Type != "sha-256" {
		t.Errorf("strongest hash = %v", h)
	}
	if f.Publisher == nil || f.Publisher.Name != "The Document Foundation" || f.Publisher.URL != "http://www.documentfoundation.org/" {
		t.Errorf("publisher = %+v", f.Publisher)
	}
	if f.Size != 211689472 || len(f.Signatures) != 1 || !strings.HasPrefix(f.Signatures[0].Value, "-----BEGIN PGP SIGNATURE-----") {
		t.Errorf("size %d, signatures %d", f.Size, len(f.Signatures))
	}
	if !m.Dynamic || m.Generator != "MirrorBrain/2.17.0" || m.Published.IsZero() {
		t.Errorf("root fields: %+v", m)
	}
}

func TestCorpusFedoraAlternates(t *testing.T) {
	m := decodeCorpus(t, "librepo-metalink_with_alternates.metalink")
	if m.Format != FormatMirrorManager || len(m.Files) != 1 {
		t.Fatalf("format %s, %d files", m.Format, len(m.Files))
	}
	f := m.Files[0]
	if f.MMTimestamp != 1381706941 || len(f.Alternates) != 1 {
		t.Fatalf("timestamp %d, alternates %+v", f.MMTimestamp, f.Alternates)
	}
	a := f.Alternates[0]
	if a.Size != 4761 || len(a.Hashes) != 4 || a.Hashes[2] != (Hash{"sha-256", "099ff51a491eba3f16646efb5d16319249e0bb10f1dc1476d47e23b25e0e0f94"}) {
		t.Errorf("alternate = %+v", a)
	}
	if len(f.URLs) < 100 {
		t.Errorf("only %d urls", len(f.URLs))
	}
}

// TestCorpusTraversal: every traversal or unsafe name in the corpus is refused.
func TestCorpusTraversal(t *testing.T) {
	for _, c := range []struct {
		file    string
		refused []string // names refused
	}{
		{"aria2-metalink3-dirtraversal.xml", []string{"../aria2-0.5.2.tar.bz2"}},
		{"aria2-metalink4-dosdirtraversal.xml", []string{`..\..\example.ext`, `..\..\file1.ext`, `..\..\file2.ext`}},
		{"libmetalink-test1.xml", []string{"../unsafe", ""}},
		{"libmetalink-test2.xml", []string{"../unsafe", ""}},
	} {
		m := decodeCorpus(t, c.file)
		got := map[string]bool{}
		for _, r := range m.Refused {
			if errors.Is(r, ErrUnsafeName) {
				got[r.Name] = true
			}
		}
		for _, n := range c.refused {
			if !got[n] {
				t.Errorf("%s: name %q not refused (refused: %v)", c.file, n, m.Refused)
			}
		}
	}
}

func sameEssentials(a, b *Metalink) bool {
	if len(a.Files) != len(b.Files) {
		return false
	}
	for i := range a.Files {
		fa, fb := a.Files[i], b.Files[i]
		if fa.Name != fb.Name || fa.Size != fb.Size || !reflect.DeepEqual(fa.Hashes, fb.Hashes) ||
			!reflect.DeepEqual(fa.Pieces, fb.Pieces) || len(fa.URLs) != len(fb.URLs) {
			return false
		}
		for j := range fa.URLs {
			if fa.URLs[j].URL != fb.URLs[j].URL || fa.URLs[j].Location != fb.URLs[j].Location {
				return false
			}
		}
	}
	return true
}
