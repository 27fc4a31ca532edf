package fetch

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mlinkdev/mlink/internal/mirrortest"
)

// Catalogue B2: the target directory.

func TestB2SymlinkDirEscape(t *testing.T) { // case 30
	data, f := testFile(t, "a/passwd", 64<<10, tPlen, 10)
	m := mirrortest.Start(t, data)
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	_, err := runGet(t, f, fastOpts(dir), m.URL())
	if err == nil {
		t.Fatal("download through a symlinked directory succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside the target directory: %v", entries)
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests made before the path was refused", n)
	}
}

func TestB2FinalNameIsSymlink(t *testing.T) { // case 31
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 11)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("precious"), 0o600)
	link := filepath.Join(dir, "f.bin")
	os.Symlink(secret, link)

	_, err := runGet(t, f, fastOpts(dir), m.URL())
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Get = %v, want ErrExists", err)
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests made although the name was taken", n)
	}
	o := fastOpts(dir)
	o.Overwrite = true
	if _, err := runGet(t, f, o, m.URL()); err != nil {
		t.Fatalf("with Overwrite: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "precious" {
		t.Errorf("symlink target changed to %q", b)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("the symlink was not replaced")
	}
	assertFile(t, dir, "f.bin", data)
}

func TestB2ExistingIdenticalFile(t *testing.T) { // case 32
	data, f := testFile(t, "f.bin", 200<<10, tPlen, 12)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o644)
	rep, err := runGet(t, f, fastOpts(dir), m.URL())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files[0].State != "already-complete" || m.RequestCount() != 0 {
		t.Errorf("state %q, %d requests; want already-complete with none", rep.Files[0].State, m.RequestCount())
	}
}

func TestB2ExistingDifferentFile(t *testing.T) { // case 33
	data, f := testFile(t, "f.bin", 200<<10, tPlen, 13)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	mine := bytes.Repeat([]byte("x"), len(data)) // same size, other content
	os.WriteFile(filepath.Join(dir, "f.bin"), mine, 0o644)
	_, err := runGet(t, f, fastOpts(dir), m.URL())
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Get = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f.bin")); !bytes.Equal(b, mine) {
		t.Error("existing file changed")
	}
	if m.RequestCount() != 0 {
		t.Errorf("%d requests made", m.RequestCount())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %v", entries)
	}
}

func TestB2FileAppearsDuringDownload(t *testing.T) { // case 34
	data, f := testFile(t, "f.bin", 200<<10, tPlen, 14)
	dir := t.TempDir()
	var once sync.Once
	m := mirrortest.Start(t, data, mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { os.WriteFile(filepath.Join(dir, "f.bin"), []byte("theirs"), 0o644) })
			h.ServeHTTP(w, r)
		})
	}))
	_, err := runGet(t, f, fastOpts(dir), m.URL())
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Get = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f.bin")); string(b) != "theirs" {
		t.Errorf("their file now holds %d bytes", len(b))
	}
	// Our verified data is kept and named in the error.
	if b, _ := os.ReadFile(filepath.Join(dir, "f.bin.part")); !bytes.Equal(b, data) {
		t.Errorf("verified part file not kept (error %v)", err)
	}
}

func TestB2PartNameTaken(t *testing.T) { // case 35
	data, f := testFile(t, "f.bin", 200<<10, tPlen, 15)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	foreign := []byte("not ours")
	os.WriteFile(filepath.Join(dir, "f.bin.part"), foreign, 0o644)
	if _, err := runGet(t, f, fastOpts(dir), m.URL()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.bin")); !bytes.Equal(got, data) {
		t.Error("final file wrong")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f.bin.part")); !bytes.Equal(b, foreign) {
		t.Errorf("foreign f.bin.part changed to %d bytes", len(b))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %v, want f.bin and the foreign f.bin.part", entries)
	}
}

func TestB2UnwritableTarget(t *testing.T) { // case 38
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 16)
	m := mirrortest.Start(t, data)
	// Dir is a regular file: creating anything in it fails, before any request.
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	if _, err := runGet(t, f, fastOpts(notDir), m.URL()); err == nil {
		t.Fatal("download into a regular file succeeded")
	}
	if os.Geteuid() != 0 {
		ro := t.TempDir()
		os.Chmod(ro, 0o555)
		t.Cleanup(func() { os.Chmod(ro, 0o755) })
		if _, err := runGet(t, f, fastOpts(ro), m.URL()); !errors.Is(err, os.ErrPermission) {
			t.Errorf("read-only directory: %v, want a permission error", err)
		}
	} else {
		t.Log("running as root: the read-only directory variant is skipped (root may write anywhere)")
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests made before the target was found unwritable", n)
	}
}

func TestB2PermissionsAndCleanup(t *testing.T) { // cases 41, 42
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 17)
	good := mirrortest.Start(t, data)
	dir := t.TempDir()
	if _, err := runGet(t, f, fastOpts(dir), good.URL()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "f.bin"))
	if perm := fi.Mode().Perm(); perm&^0o644 != 0 {
		t.Errorf("final file mode %v is wider than 0644", perm)
	}

	// A failed run removes only what it created.
	_, g := testFile(t, "g.bin", 64<<10, tPlen, 18)
	bad := mirrortest.Start(t, data, mirrortest.CorruptFraction(tPlen, 1, 1))
	unrelated := filepath.Join(dir, "g.bin.1")
	os.WriteFile(unrelated, []byte("keep"), 0o644)
	if _, err := runGet(t, g, fastOpts(dir), bad.URL()); err == nil {
		t.Fatal("download from a corrupting mirror succeeded")
	}
	if b, err := os.ReadFile(unrelated); err != nil || string(b) != "keep" {
		t.Errorf("unrelated file: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %v, want f.bin and g.bin.1", entries)
	}
}

func TestOutputNameChecked(t *testing.T) {
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 19)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	for _, bad := range []string{"../x", "/etc/x", "a/../../x", "a\\b", ""} {
		o := fastOpts(dir)
		o.Output = bad
		if bad == "" {
			continue // empty means "no rename"
		}
		if _, err := runGet(t, f, o, m.URL()); !errors.Is(err, ErrUsage) {
			t.Errorf("Output %q: %v, want ErrUsage", bad, err)
		}
	}
	o := fastOpts(dir)
	o.Output = "sub/renamed.bin"
	if _, err := runGet(t, f, o, m.URL()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "sub/renamed.bin", data)
}
