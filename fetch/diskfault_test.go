package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// Issue 7 item 3: disk faults, end to end.

// mountTmpfs mounts a fresh tmpfs with the given mount options on a temporary
// directory and unmounts it at the end of the test. It skips the test (with the
// reason) when not root or when mount fails (no CAP_SYS_ADMIN in a container).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs; the injected-fault variants cover non-root runs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "mlink-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); the injected-fault variants cover this", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			exec.Command("umount", "-l", dir).Run()
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// A read-only target directory is reported before any request: with chmod when not
// root, with a read-only tmpfs as root (root writes through modes).
func TestPreflightReadOnlyDir(t *testing.T) {
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 80)
	m := mirrortest.Start(t, data)
	var dir string
	var want error
	if os.Geteuid() != 0 {
		dir = t.TempDir()
		os.Chmod(dir, 0o555)
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		want = os.ErrPermission
	} else {
		dir = mountTmpfs(t, "ro,size=1m")
		want = syscall.EROFS
	}
	_, err := runGet(t, f, fastOpts(dir), m.URL())
	if !errors.Is(err, want) || !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Get = %v, want %v naming %s as not writable", err, want, dir)
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests made before the directory was found read-only", n)
	}

	// A complete file in a read-only directory is still verified and reported:
	// nothing needs writing.
	writable := func(rw bool) {
		if os.Geteuid() != 0 {
			os.Chmod(dir, map[bool]os.FileMode{true: 0o755, false: 0o555}[rw])
			return
		}
		opt := map[bool]string{true: "remount,rw", false: "remount,ro"}[rw]
		if out, err := exec.Command("mount", "-o", opt, dir).CombinedOutput(); err != nil {
			t.Fatalf("mount -o %s: %v: %s", opt, err, out)
		}
	}
	writable(true)
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	writable(false)
	rep, err := runGet(t, f, fastOpts(dir), m.URL())
	if err != nil || rep.Files[0].State != "already-complete" {
		t.Errorf("complete file in a read-only directory: %v, %+v", err, rep.Files)
	}
}

// Not enough free space for what is still missing: ErrNoSpace at once, before any
// request, saying how much is needed and how much is free.
func TestPreflightNoSpace(t *testing.T) {
	m := mirrortest.Start(t, []byte("x"))
	// No file system has an exabyte free.
	f := metalink.File{Name: "huge.bin", Size: 1 << 60,
		Hashes: []metalink.Hash{{Type: "sha-256", Value: strings.Repeat("ab", 32)}}}
	dir := t.TempDir()
	_, err := runGet(t, f, fastOpts(dir), m.URL())
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "no space left on "+dir+": need 1024.0 PiB") ||
		!strings.Contains(err.Error(), "free") {
		t.Fatalf("Get = %v, want ErrNoSpace: no space left on %s: need 1024.0 PiB (...), N free", err, dir)
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests made although the file cannot fit", n)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// The same on a real small file system: an 8 MiB tmpfs with a filler file leaving
// 1 MiB, and a 2 MiB download.
func TestPreflightNoSpaceTmpfs(t *testing.T) {
	dir := mountTmpfs(t, "size=8m")
	fill(t, filepath.Join(dir, "filler"), 7<<20)
	data, f := testFile(t, "f.bin", 2<<20, 64<<10, 81)
	m := mirrortest.Start(t, data)
	_, err := runGet(t, f, fastOpts(dir), m.URL())
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "need 2.0 MiB (2097152 bytes), 1.0 MiB") {
		t.Fatalf("Get = %v, want ErrNoSpace: need 2.0 MiB (2097152 bytes), 1.0 MiB ... free", err)
	}
	if n := m.RequestCount(); n != 0 {
		t.Errorf("%d requests made although the file cannot fit", n)
	}
}

// fill writes a file of n bytes (fewer when the file system fills up first) and
// returns how many were written.
func fill(t *testing.T, name string, n int64) int64 {
	t.Helper()
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	buf := make([]byte, 64<<10)
	var w int64
	for w < n {
		k, err := fh.Write(buf[:min(int64(len(buf)), n-w)])
		w += int64(k)
		if err != nil {
			break
		}
	}
	return w
}

// checkJournalConsistent loads the journal left beside NAME.part and checks that every
// piece it claims is intact in the part file.
func checkJournalConsistent(t *testing.T, dir string, f metalink.File, data []byte) int {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	id, err := journalIdentityOf(&f, f.Pieces[0].Length)
	if err != nil {
		t.Fatal(err)
	}
	st, err := journalLoad(journalRootFS{root}, f.Name, id)
	if err != nil {
		t.Fatalf("journal after the disk filled up: %v", err)
	}
	part, err := os.ReadFile(filepath.Join(dir, f.Name+".part"))
	if err != nil {
		t.Fatal(err)
	}
	claimed := 0
	pl := f.Pieces[0].Length
	for i, ok := range st.done {
		if !ok {
			continue
		}
		claimed++
		off := int64(i) * pl
		end := min(off+pl, int64(len(data)))
		if int64(len(part)) < end || !bytes.Equal(part[off:end], data[off:end]) {
			t.Errorf("journal claims piece %d, which is not intact in the part file", i)
		}
	}
	return claimed
}

// The disk fills up during the download (the file system could not preallocate,
// another writer took the room): a clear "no space" error, NAME.part and its journal
// kept and consistent, and the same call completes once space is freed, keeping the
// verified pieces. Root only (a real tmpfs); TestDiskFullInjected covers other runs.
func TestDiskFullMidDownloadTmpfs(t *testing.T) {
	dir := mountTmpfs(t, "size=8m")
	saved := preallocateFn
	preallocateFn = func(*os.File, int64) error { return errors.ErrUnsupported }
	t.Cleanup(func() { preallocateFn = saved })

	data, f := testFile(t, "f.bin", 2<<20, tPlen, 82)
	m := mirrortest.Start(t, data, mirrortest.Throttle(4<<20))
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	filler := filepath.Join(dir, "filler")
	o := fastOpts(dir)
	done := 0
	o.OnEvent = func(e Event) {
		if e.Kind == EventPieceDone {
			if done++; done == 16 {
				fill(t, filler, 8<<20) // another writer takes all the room
			}
		}
	}
	_, err := Get(context.Background(), ml, o)
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "run the same download again") {
		t.Fatalf("Get on a full disk = %v, want ErrNoSpace (ENOSPC) saying to run again", err)
	}
	claimed := checkJournalConsistent(t, dir, f, data)
	t.Logf("disk full after %d pieces; the journal claims %d; error: %v", done, claimed, err)

	os.Remove(filler)
	served := m.BytesServed()
	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	assertFile(t, dir, "f.bin", data)
	second := m.BytesServed() - served
	if fr := rep.Files[0]; fr.Resumed < 16 || second >= f.Size {
		t.Errorf("rerun: %d pieces resumed, %d of %d bytes fetched again; want the verified pieces kept", fr.Resumed, second, f.Size)
	}
	if _, err := os.Stat(filepath.Join(dir, "f.bin.part.mlj")); err == nil {
		t.Error("journal left behind after success")
	}
}

// The same with an injected ENOSPC (any user): the part file runs out of room after
// 12 pieces.
func TestDiskFullInjected(t *testing.T) {
	data, f := testFile(t, "f.bin", 512<<10, tPlen, 83)
	m := mirrortest.Start(t, data, mirrortest.Throttle(2<<20))
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	testWrapPart = func(p partFile) partFile {
		w := newJournalFaultWriterAt(p, "f.bin.part", 12*tPlen)
		return struct {
			io.WriterAt
			io.ReaderAt
		}{w, p}
	}
	t.Cleanup(func() { testWrapPart = nil })
	_, err := Get(context.Background(), ml, fastOpts(dir))
	testWrapPart = nil
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Get = %v, want ErrNoSpace wrapping ENOSPC", err)
	}
	checkJournalConsistent(t, dir, f, data)
	served := m.BytesServed()
	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	assertFile(t, dir, "f.bin", data)
	if fr, second := rep.Files[0], m.BytesServed()-served; fr.Resumed < 12 || second > f.Size-12*tPlen+4*tPlen {
		t.Errorf("rerun: %d pieces resumed, %d bytes fetched again; want the 12 written pieces kept", fr.Resumed, second)
	}
}
