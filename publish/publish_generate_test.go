package publish

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/metalink"
)

func TestGenerateTree(t *testing.T) {
	dir := t.TempDir()
	a := randBytes(200_000, 10)
	b := randBytes(1234, 11)
	writeFile(t, dir, "release/my file.tar.gz", a)
	writeFile(t, dir, "release/docs/ünï#1.txt", b)
	writeFile(t, dir, "release/my file.tar.gz.asc", []byte("-----BEGIN PGP SIGNATURE-----\nx\n-----END PGP SIGNATURE-----\n"))
	writeFile(t, dir, "release/.hidden", []byte("no"))
	writeFile(t, dir, "release/.git/config", []byte("no"))
	writeFile(t, dir, "release/old.meta4", []byte("no"))
	os.Symlink("docs", filepath.Join(dir, "release", "latest"))
	os.Symlink("docs/ünï#1.txt", filepath.Join(dir, "release", "alias.txt"))

	pub := time.Date(2024, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	opts := Options{
		Hasher: Hasher{
			Cache:     openCache(t, filepath.Join(t.TempDir(), "c.db")),
			Hashes:    []string{"sha-256", "md5"},
			PieceSize: 64 << 10,
		},
		Mirrors: []Mirror{
			{URL: "https://eu.example/pub/", Priority: 1, Location: "de"},
			{URL: "http://us.example/x"},
		},
		Origin: "https://www.example/release.meta4", Dynamic: true,
		Generator: "mlink/test", Published: pub, Updated: pub,
		Publisher: &metalink.Publisher{Name: "Example", URL: "https://www.example/"},
		Version:   "1.0", Description: "desc", Copyright: "(c) us", Identity: "thing",
		Languages: []string{"en"}, OSes: []string{"linux-x86_64"},
		Signatures: true,
	}
	res, err := Generate(context.Background(), []string{filepath.Join(dir, "release")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Documents) != 1 {
		t.Fatalf("got %d documents, want 1", len(res.Documents))
	}
	m := res.Documents[0].Metalink
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	want := []string{"alias.txt", "docs/ünï#1.txt", "my file.tar.gz"}
	if !slices.Equal(names, want) {
		t.Fatalf("names = %q, want %q", names, want)
	}
	if res.Files != 3 || res.Hashed != 3 || res.Cached != 0 || res.Bytes != int64(len(a)+2*len(b)) {
		t.Errorf("summary = %+v", res)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "latest") {
		t.Errorf("warnings = %q, want one about the directory link", res.Warnings)
	}
	wantPub := time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC)
	if m.Generator != "mlink/test" || m.Origin != opts.Origin || !m.Dynamic || !m.Published.Equal(wantPub) || m.Published.Location() != time.UTC {
		t.Errorf("document header = %q %q %v %v", m.Generator, m.Origin, m.Dynamic, m.Published)
	}
	for _, f := range m.Files {
		switch f.Name {
		case "my file.tar.gz":
			if f.Size != int64(len(a)) || f.Hashes[0].Value != sha256hex(a) || f.Hashes[1].Type != "md5" {
				t.Errorf("%s: size/hashes wrong: %+v", f.Name, f.Hashes)
			}
			if len(f.Pieces) != 1 || !slices.Equal(f.Pieces[0].Hashes, wantPieces(a, 64<<10)) {
				t.Errorf("%s: pieces wrong", f.Name)
			}
			if len(f.Signatures) != 1 || f.Signatures[0].MediaType != "application/pgp-signature" || !strings.Contains(f.Signatures[0].Value, "BEGIN PGP") {
				t.Errorf("%s: signature = %+v", f.Name, f.Signatures)
			}
			wantURLs := []metalink.URL{
				{URL: "https://eu.example/pub/my%20file.tar.gz", Priority: 1, Location: "de"},
				{URL: "http://us.example/x/my%20file.tar.gz"},
			}
			if !slices.Equal(f.URLs, wantURLs) {
				t.Errorf("%s: URLs = %+v, want %+v", f.Name, f.URLs, wantURLs)
			}
			if f.Publisher == nil || f.Publisher.Name != "Example" || f.Version != "1.0" || f.Description != "desc" ||
				f.Copyright != "(c) us" || f.Identity != "thing" || !slices.Equal(f.Languages, []string{"en"}) || !slices.Equal(f.OSes, []string{"linux-x86_64"}) {
				t.Errorf("%s: descriptive fields = %+v", f.Name, f)
			}
		case "docs/ünï#1.txt":
			if f.URLs[0].URL != "https://eu.example/pub/docs/%C3%BCn%C3%AF%231.txt" {
				t.Errorf("%s: URL %s", f.Name, f.URLs[0].URL)
			}
			if len(f.Signatures) != 0 {
				t.Errorf("%s: unexpected signature", f.Name)
			}
		}
	}

	// Republishing the unchanged tree rehashes nothing.
	res2, err := Generate(context.Background(), []string{filepath.Join(dir, "release")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Hashed != 0 || res2.Cached != 3 || res2.HashedBytes != 0 {
		t.Errorf("second run: hashed %d, cached %d; want 0 and 3", res2.Hashed, res2.Cached)
	}
}

func TestGenerateEach(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.iso", []byte("aaa"))
	writeFile(t, dir, "sub/b.iso", []byte("bbbb"))
	res, err := Generate(context.Background(), []string{dir}, Options{
		Each: true, Origin: "https://o.example/pub/",
		Mirrors: []Mirror{{URL: "https://m.example/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Documents) != 2 {
		t.Fatalf("got %d documents, want 2", len(res.Documents))
	}
	for _, d := range res.Documents {
		f := d.Metalink.Files[0]
		switch d.Source {
		case filepath.Join(dir, "a.iso"):
			if f.Name != "a.iso" || d.Metalink.Origin != "https://o.example/pub/a.iso.meta4" || f.URLs[0].URL != "https://m.example/a.iso" {
				t.Errorf("a.iso document: %q origin %q url %q", f.Name, d.Metalink.Origin, f.URLs[0].URL)
			}
		case filepath.Join(dir, "sub", "b.iso"):
			if f.Name != "b.iso" || d.Metalink.Origin != "https://o.example/pub/sub/b.iso.meta4" || f.URLs[0].URL != "https://m.example/sub/b.iso" {
				t.Errorf("b.iso document: %q origin %q url %q", f.Name, d.Metalink.Origin, f.URLs[0].URL)
			}
		default:
			t.Errorf("unexpected source %q", d.Source)
		}
	}
}

func TestGenerateBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "one/x.iso", []byte("1"))
	writeFile(t, dir, "two/x.iso", []byte("2"))
	writeFile(t, dir, "three/X.ISO", []byte("3"))
	writeFile(t, dir, "four/x.iso/inner", []byte("4"))
	writeFile(t, dir, "bad/a:b", []byte("5"))
	writeFile(t, dir, "esc/ok", []byte("6"))
	os.Symlink("/etc/hostname", filepath.Join(dir, "esc", "leak"))
	os.MkdirAll(filepath.Join(dir, "fifo"), 0o755)
	if err := mkfifo(filepath.Join(dir, "fifo", "p")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		paths []string
		want  error
		msg   string
	}{
		{"same base name", []string{filepath.Join(dir, "one", "x.iso"), filepath.Join(dir, "two", "x.iso")}, ErrDuplicateName, "x.iso"},
		{"same name in two trees", []string{filepath.Join(dir, "one"), filepath.Join(dir, "two")}, ErrDuplicateName, "x.iso"},
		{"case-folded", []string{filepath.Join(dir, "one"), filepath.Join(dir, "three")}, ErrDuplicateName, "X.ISO"},
		{"file and directory", []string{filepath.Join(dir, "one"), filepath.Join(dir, "four")}, ErrDuplicateName, "directory"},
		{"unsafe name", []string{filepath.Join(dir, "bad")}, metalink.ErrUnsafeName, "a:b"},
		{"symlink out of the tree", []string{filepath.Join(dir, "esc")}, ErrOutsideRoot, "leak"},
		{"fifo in a tree", []string{filepath.Join(dir, "fifo")}, ErrNotRegular, "fifo"},
		{"fifo given", []string{filepath.Join(dir, "fifo", "p")}, ErrNotRegular, "fifo"},
		{"device", []string{"/dev/null"}, ErrNotRegular, "character device"},
		{"missing", []string{filepath.Join(dir, "nope")}, os.ErrNotExist, "nope"},
		{"empty directory", []string{t.TempDir()}, ErrNoInput, "no files"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Generate(context.Background(), c.paths, Options{})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error = %v, want %v mentioning %q", err, c.want, c.msg)
			}
		})
	}
	if _, err := Generate(context.Background(), []string{dir}, Options{Origin: "ftp://x/"}); !errors.Is(err, ErrBadMirror) {
		t.Errorf("ftp origin: error = %v", err)
	}
	if _, err := Generate(context.Background(), []string{dir}, Options{Hasher: Hasher{Hashes: []string{"crc"}}}); err == nil {
		t.Errorf("bad hash accepted")
	}
}

func TestGenerateSymlinkArgumentAndExclude(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "store/real-1.2.iso", []byte("data"))
	os.Symlink(filepath.Join(dir, "store", "real-1.2.iso"), filepath.Join(dir, "latest.iso"))
	res, err := Generate(context.Background(), []string{filepath.Join(dir, "latest.iso")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f := res.Documents[0].Metalink.Files[0]; f.Name != "latest.iso" || f.Size != 4 {
		t.Fatalf("link argument published as %q size %d, want latest.iso size 4", f.Name, f.Size)
	}
	out := writeFile(t, dir, "store/list.txt", []byte("old output"))
	res, err = Generate(context.Background(), []string{filepath.Join(dir, "store")}, Options{Exclude: []string{out}})
	if err != nil || len(res.Documents[0].Metalink.Files) != 1 {
		t.Fatalf("excluded output still published: %v %+v", err, res)
	}
}

func TestGenerateCancelled(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "big", randBytes(4<<20, 7))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, []string{dir}, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}
