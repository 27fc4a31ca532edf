package fetch

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func TestJournalSinkFlushesEverySecond(t *testing.T) {
	root, _ := openTestRoot(t)
	data := journalTestData(6 * 100)
	id := journalTestID(t, "s.bin", data, 100)
	fsys := journalRootFS{root}
	part, err := root.OpenFile("s.bin.part", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	synctest.Test(t, func(t *testing.T) {
		j, _ := newJournal(fsys, "s.bin", id, nil, nil)
		s := journalStartSink(j, part, 0, nil)
		s.pieceWritten(0)
		s.pieceWritten(4)
		if _, err := journalLoad(fsys, "s.bin", id); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("journal written before the interval: %v", err)
		}
		time.Sleep(1100 * time.Millisecond) // fake time: one tick
		synctest.Wait()
		st, err := journalLoad(fsys, "s.bin", id)
		if err != nil {
			t.Fatalf("no journal after one interval: %v", err)
		}
		if want := []bool{true, false, false, false, true, false}; !reflect.DeepEqual(st.done, want) {
			t.Errorf("after one interval: %v, want %v", st.done, want)
		}
		s.pieceWritten(5)
		if err := s.close(); err != nil { // close commits what is queued
			t.Fatal(err)
		}
		st, _ = journalLoad(fsys, "s.bin", id)
		if st == nil || !st.done[5] {
			t.Errorf("close did not commit the last piece: %+v", st)
		}
	})
}

func TestJournalSinkFsyncFailure(t *testing.T) {
	root, _ := openTestRoot(t)
	data := journalTestData(4 * 100)
	id := journalTestID(t, "f.bin", data, 100)
	fsys := journalRootFS{root}
	part, _ := root.OpenFile("f.bin.part", os.O_RDWR|os.O_CREATE, 0o600)
	defer part.Close()
	syncer := &journalFaultSyncer{s: part, failAt: 2}
	var mu sync.Mutex
	var reported []error
	j, _ := newJournal(fsys, "f.bin", id, nil, nil)
	s := journalStartSink(j, syncer, time.Hour, func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() })
	s.pieceWritten(0)
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	s.pieceWritten(1)
	if err := s.flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush with failing fsync: %v", err)
	}
	syncer.failAt = 0 // the disk "recovers": nothing more may be recorded anyway
	s.pieceWritten(2)
	if err := s.close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close: %v, want the EIO", err)
	}
	if len(reported) != 1 {
		t.Errorf("onErr called %d times, want 1", len(reported))
	}
	st, err := journalLoad(fsys, "f.bin", id)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, false, false}; !reflect.DeepEqual(st.done, want) {
		t.Errorf("journal claims %v, want only the piece fsynced before the failure %v", st.done, want)
	}
}

// TestJournalFaultWriterAt checks the ENOSPC helper itself: a clear "no space" error
// at the limit, a short write, and success once space is freed.
func TestJournalFaultWriterAt(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x.part"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := newJournalFaultWriterAt(f, "x.part", 150)
	if n, err := w.WriteAt(bytes.Repeat([]byte{1}, 100), 0); n != 100 || err != nil {
		t.Fatalf("first write: %d %v", n, err)
	}
	n, err := w.WriteAt(bytes.Repeat([]byte{2}, 100), 100)
	if n != 50 || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("write over the limit: %d %v", n, err)
	}
	w.free(1000)
	if n, err := w.WriteAt(bytes.Repeat([]byte{2}, 100), 100); n != 100 || err != nil {
		t.Fatalf("after freeing space: %d %v", n, err)
	}
}

// TestJournalSaveDiskFull saves onto a real full device: the error is ENOSPC, no
// temporary file remains, and the previous journal is intact.
func TestJournalSaveDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system:", err)
	}
	root, dir := openTestRoot(t)
	data := journalTestData(300)
	id := journalTestID(t, "d.bin", data, 100)
	good := journalRootFS{root}
	j, _ := newJournal(good, "d.bin", id, nil, nil)
	if err := j.commit(nopSyncer{}, []int{1}); err != nil {
		t.Fatal(err)
	}
	j.fsys = journalDevFullFS{good}
	if err := j.commit(nopSyncer{}, []int{2}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("save on a full disk: %v, want ENOSPC", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
	st, err := journalLoad(good, "d.bin", id)
	if err != nil || !reflect.DeepEqual(st.done, []bool{false, true, false}) {
		t.Errorf("previous journal: %+v %v", st, err)
	}
}

// TestJournalLockReadOnlyDir: taking the lock is the first thing a download does, so a
// read-only target directory is reported before any network traffic (issue 7 item 3).
func TestJournalLockReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: permission bits do not stop root from creating files")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := journalLock(root, "x.iso"); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "x.iso.part.lock") {
		t.Fatalf("lock in a read-only directory: %v, want a permission error naming the lock file", err)
	}
}
