package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	bolt "go.etcd.io/bbolt"
)

// writeFile writes data to dir/name with an mtime an hour ago, so that the cache
// does not treat it as racily new.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

func randBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// wantPieces computes sha-256 piece hashes the obvious way.
func wantPieces(b []byte, plen int) []string {
	var out []string
	for off := 0; off < len(b); off += plen {
		out = append(out, sha256hex(b[off:min(off+plen, len(b))]))
	}
	return out
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func openCache(t *testing.T, path string) *Cache {
	t.Helper()
	c, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func checkFile(t *testing.T, f *metalink.File, name string, data []byte, plen int) {
	t.Helper()
	if f.Name != name || f.Size != int64(len(data)) {
		t.Fatalf("file = %q size %d, want %q size %d", f.Name, f.Size, name, len(data))
	}
	if len(f.Hashes) != 1 || f.Hashes[0].Type != "sha-256" || f.Hashes[0].Value != sha256hex(data) {
		t.Fatalf("hashes = %+v, want sha-256 %s", f.Hashes, sha256hex(data))
	}
	want := wantPieces(data, plen)
	if len(f.Pieces) != 1 || f.Pieces[0].Type != "sha-256" || f.Pieces[0].Length != int64(plen) || len(f.Pieces[0].Hashes) != len(want) {
		t.Fatalf("pieces = %+v, want %d sha-256 pieces of %d", f.Pieces, len(want), plen)
	}
	for i := range want {
		if f.Pieces[0].Hashes[i] != want[i] {
			t.Fatalf("piece %d = %s, want %s", i, f.Pieces[0].Hashes[i], want[i])
		}
	}
	if len(f.URLs) != 0 {
		t.Fatalf("Sums returned URLs %+v", f.URLs)
	}
}

func TestAutoPieceSize(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	for _, c := range []struct{ size, want int64 }{
		{0, MiB}, {1, MiB}, {700 * MiB, MiB}, {4 * GiB, MiB}, {4*GiB + 1, 2 * MiB},
		{8 * GiB, 2 * MiB}, {10 * GiB, 4 * MiB}, {64 * GiB, 16 * MiB}, {1 << 40, 16 * MiB}, {1<<63 - 1, 16 * MiB},
	} {
		if got := AutoPieceSize(c.size); got != c.want {
			t.Errorf("AutoPieceSize(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

func TestHasherSumsAndCache(t *testing.T) {
	dir := t.TempDir()
	data := randBytes(300_000, 1)
	writeFile(t, dir, "sub/a.bin", data)
	root := openRoot(t, dir)
	cache := openCache(t, filepath.Join(t.TempDir(), "cache", "hashes.db"))
	h := &Hasher{Cache: cache, PieceSize: 64 << 10}

	f, hit, err := h.sums(context.Background(), root, "sub/a.bin")
	if err != nil || hit {
		t.Fatalf("first sums: hit %v, err %v", hit, err)
	}
	checkFile(t, f, "sub/a.bin", data, 64<<10)

	f, hit, err = h.sums(context.Background(), root, "sub/a.bin")
	if err != nil || !hit {
		t.Fatalf("second sums: hit %v, err %v; want a cache hit", hit, err)
	}
	checkFile(t, f, "sub/a.bin", data, 64<<10)

	// Other settings are another cache key.
	h2 := &Hasher{Cache: cache, PieceSize: 32 << 10}
	f, hit, err = h2.sums(context.Background(), root, "sub/a.bin")
	if err != nil || hit {
		t.Fatalf("sums with another piece size: hit %v, err %v; want a miss", hit, err)
	}
	checkFile(t, f, "sub/a.bin", data, 32<<10)

	// Same size, same mtime, different content: ctime (and inode, for a rename) differ,
	// so the cache must not answer with the old hash.
	data2 := randBytes(len(data), 2)
	p := filepath.Join(dir, "sub", "a.bin")
	fi, _ := os.Stat(p)
	if err := os.WriteFile(p, data2, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	f, hit, err = h.sums(context.Background(), root, "sub/a.bin")
	if err != nil || hit {
		t.Fatalf("sums after rewrite: hit %v, err %v; want a miss", hit, err)
	}
	checkFile(t, f, "sub/a.bin", data2, 64<<10)

	// Replaced by rename (new inode) with the old mtime: a miss too.
	tmp := writeFile(t, dir, "sub/new.tmp", data)
	os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	f, hit, err = h.sums(context.Background(), root, "sub/a.bin")
	if err != nil || hit {
		t.Fatalf("sums after replace: hit %v, err %v; want a miss", hit, err)
	}
	checkFile(t, f, "sub/a.bin", data, 64<<10)
	if w := cache.Warnings(); len(w) != 0 {
		t.Errorf("unexpected cache warnings %q", w)
	}
}

func TestHasherDoesNotCacheRacyFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "new.bin"), []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &Hasher{Cache: openCache(t, filepath.Join(t.TempDir(), "c.db"))}
	root := openRoot(t, dir)
	for i := range 2 {
		if _, hit, err := h.sums(context.Background(), root, "new.bin"); err != nil || hit {
			t.Fatalf("run %d on a just-written file: hit %v, err %v; want a miss", i, hit, err)
		}
	}
}

func TestHasherZeroValueAndEmptyFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "empty", nil)
	writeFile(t, dir, "x", []byte("abc"))
	var h Hasher
	root := openRoot(t, dir)
	f, err := h.Sums(context.Background(), root, "empty")
	if err != nil || f.Size != 0 || len(f.Pieces) != 0 || f.Hashes[0].Value != sha256hex(nil) {
		t.Fatalf("Sums(empty) = %+v, %v; want size 0, no pieces, sha-256 of nothing", f, err)
	}
	f, err = h.Sums(context.Background(), root, "x")
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, f, "x", []byte("abc"), 1<<20)
}

func TestHasherSettingsErrors(t *testing.T) {
	for _, h := range []Hasher{
		{Hashes: []string{"sha3-999"}}, {PieceHash: "crc32"}, {PieceSize: 10}, {PieceSize: 2 << 30},
	} {
		if err := h.Check(); err == nil {
			t.Errorf("Hasher %+v accepted", h)
		}
	}
	h := Hasher{Hashes: []string{"SHA256", "sha-512", "sha256"}, PieceHash: "sha1"}
	got, piece, err := h.params()
	if err != nil || len(got) != 2 || got[0] != "sha-256" || got[1] != "sha-512" || piece != "sha-1" {
		t.Errorf("params() = %v, %q, %v; want [sha-256 sha-512], sha-1", got, piece, err)
	}
}

func TestHasherRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("../../etc/hostname", filepath.Join(dir, "d", "up"))
	root := openRoot(t, dir)
	var h Hasher
	for name, want := range map[string]error{
		"fifo": ErrNotRegular, "sock": ErrNotRegular, "d": ErrNotRegular,
		"out": ErrOutsideRoot, "d/up": ErrOutsideRoot, "missing": os.ErrNotExist,
	} {
		_, err := h.Sums(context.Background(), root, name)
		var pe *PathError
		if !errors.Is(err, want) || !errors.As(err, &pe) || pe.Path != filepath.Join(dir, name) {
			t.Errorf("Sums(%q) error = %v, want %v naming the path", name, err, want)
		}
	}
}

func TestHasherUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: permission bits do not stop root from reading")
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "secret", []byte("x"))
	os.Chmod(p, 0)
	_, err := (&Hasher{}).Sums(context.Background(), openRoot(t, dir), "secret")
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Sums(unreadable) error = %v, want permission denied", err)
	}
}

func TestHasherDetectsChangeWhileHashing(t *testing.T) {
	for _, mode := range []string{"append", "truncate", "rewrite"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "grow.bin", randBytes(3<<20, 3))
			cache := openCache(t, filepath.Join(t.TempDir(), "c.db"))
			var once sync.Once
			h := &Hasher{Cache: cache, Progress: func(int64) {
				once.Do(func() {
					switch mode {
					case "append":
						f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
						f.Write([]byte("more"))
						f.Close()
					case "truncate":
						os.Truncate(p, 1<<20)
					case "rewrite":
						f, _ := os.OpenFile(p, os.O_WRONLY, 0)
						f.WriteAt([]byte("changed"), 2<<20)
						f.Close()
					}
				})
			}}
			root := openRoot(t, dir)
			_, err := h.Sums(context.Background(), root, "grow.bin")
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("Sums of a file changed mid-hash: error = %v, want ErrChanged", err)
			}
			// Nothing was cached: the next run hashes again.
			h.Progress = nil
			if _, hit, err := h.sums(context.Background(), root, "grow.bin"); hit {
				t.Fatalf("after a failed hash, the cache answered (err %v)", err)
			}
		})
	}
}

func TestHasherConcurrent(t *testing.T) {
	dir := t.TempDir()
	var files [][]byte
	for i := range 6 {
		files = append(files, randBytes(50_000+i*1000, uint64(i)))
		writeFile(t, dir, "f"+string(rune('0'+i)), files[i])
	}
	h := &Hasher{Cache: openCache(t, filepath.Join(t.TempDir(), "c.db")), PieceSize: 16 << 10}
	root := openRoot(t, dir)
	var wg sync.WaitGroup
	for range 3 {
		for i := range files {
			wg.Go(func() {
				f, err := h.Sums(context.Background(), root, "f"+string(rune('0'+i)))
				if err != nil {
					t.Error(err)
					return
				}
				if f.Hashes[0].Value != sha256hex(files[i]) {
					t.Errorf("file %d: wrong hash", i)
				}
			})
		}
	}
	wg.Wait()
}

func TestCacheDamagedFileRebuilt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hashes.db")
	if err := os.WriteFile(path, randBytes(64<<10, 4), 0o600); err != nil {
		t.Fatal(err)
	}
	c := openCache(t, path)
	w := c.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "damaged") {
		t.Fatalf("warnings = %q, want one about the damaged cache", w)
	}
	if _, err := os.Stat(path + ".damaged"); err != nil {
		t.Fatalf("damaged cache not kept aside: %v", err)
	}
	dir := t.TempDir()
	data := []byte("hello")
	writeFile(t, dir, "a", data)
	h := &Hasher{Cache: c}
	root := openRoot(t, dir)
	for i := range 2 {
		f, hit, err := h.sums(context.Background(), root, "a")
		if err != nil || hit != (i == 1) || f.Hashes[0].Value != sha256hex(data) {
			t.Fatalf("run %d on the rebuilt cache: hit %v, err %v, file %+v", i, hit, err, f)
		}
	}
}

func TestCacheDamagedEntryNotTrusted(t *testing.T) {
	dir := t.TempDir()
	data := randBytes(5000, 5)
	writeFile(t, dir, "a", data)
	cpath := filepath.Join(t.TempDir(), "c.db")
	c := openCache(t, cpath)
	h := &Hasher{Cache: c}
	root := openRoot(t, dir)
	if _, _, err := h.sums(context.Background(), root, "a"); err != nil {
		t.Fatal(err)
	}
	// Flip a hex digit of the stored sha-256 inside the entry, keeping the JSON valid.
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheBucket)
		k, v := b.Cursor().First()
		v = append([]byte(nil), v...)
		i := len(v) - 1
		for ; i > 0 && !isHexDigit(v[i]); i-- {
		}
		if v[i] == '0' {
			v[i] = '1'
		} else {
			v[i] = '0'
		}
		return b.Put(append([]byte(nil), k...), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	f, hit, err := h.sums(context.Background(), root, "a")
	if err != nil || hit || f.Hashes[0].Value != sha256hex(data) {
		t.Fatalf("after damaging the entry: hit %v, err %v; want a rehash with the right hash", hit, err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "checksum") {
		t.Fatalf("warnings = %q, want one about the entry checksum", w)
	}
}

func TestCacheBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock timeout")
	}
	path := filepath.Join(t.TempDir(), "c.db")
	openCache(t, path)
	// bbolt's flock is per open file description, so a second open in-process blocks too.
	_, err := OpenCache(path)
	if !errors.Is(err, ErrCacheBusy) {
		t.Fatalf("second OpenCache error = %v, want ErrCacheBusy", err)
	}
}

func isHexDigit(c byte) bool { return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') }

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o644) }
