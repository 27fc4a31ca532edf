package fetch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// An interrupted download continues where it stopped: the second run fetches only the
// pieces the journal does not hold (after re-verifying those it does), and a piece
// damaged between the runs is caught and fetched again.
func TestResumeAfterCancel(t *testing.T) {
	data, f := testFile(t, "f.bin", 512<<10, tPlen, 50)
	m := mirrortest.Start(t, data, mirrortest.Throttle(256<<10))
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	done := 0
	o := fastOpts(dir)
	o.OnEvent = func(e Event) {
		if e.Kind == EventPieceDone {
			if done++; done == 8 {
				cancel()
			}
		}
	}
	if _, err := Get(ctx, ml, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want context.Canceled", err)
	}
	for _, n := range []string{"f.bin.part", "f.bin.part.mlj"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Fatalf("after the interruption: %v", err)
		}
	}
	// Damage the first piece on disk: resume must not trust it.
	part, err := os.OpenFile(filepath.Join(dir, "f.bin.part"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	part.WriteAt([]byte{^data[0]}, 0)
	part.Close()

	served := m.BytesServed()
	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	fr := rep.Files[0]
	if fr.Resumed < 7 || fr.Resumed >= fr.Pieces {
		t.Errorf("resumed %d of %d pieces, want at least the 7 intact ones of the first run", fr.Resumed, fr.Pieces)
	}
	// The server may still write a little into the first run's cancelled connections
	// after the snapshot: allow one piece per connection of slack.
	second := m.BytesServed() - served
	if want := int64(fr.Pieces-fr.Resumed+4) * tPlen; second > want {
		t.Errorf("second run fetched %d bytes, want at most %d (the missing pieces)", second, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind after success: %v", entries)
	}
}

// A second download of the same output fails at once on the lock (case 40).
func TestSecondRunLocked(t *testing.T) {
	data, f := testFile(t, "f.bin", 64<<10, tPlen, 51)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	l, err := journalLock(root, "f.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, err = runGet(t, f, fastOpts(dir), m.URL())
	if !errors.Is(err, ErrLocked) {
		t.Errorf("Get with the output locked: %v", err)
	}
	if m.RequestCount() != 0 {
		t.Errorf("%d requests made while locked", m.RequestCount())
	}
	l.release()
	if _, err := runGet(t, f, fastOpts(dir), m.URL()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
}

// Killed before its first periodic commit, a run still leaves a journal naming
// NAME.part as ours, and the next run keeps every intact piece (hash scan).
func TestResumeWithoutCommittedPieces(t *testing.T) {
	data, f := testFile(t, "f.bin", 256<<10, tPlen, 52)
	m := mirrortest.Start(t, data)
	dir := t.TempDir()
	// Simulate the kill: a part file holding the first half, and the empty journal a
	// run saves when it creates NAME.part.
	root, _ := os.OpenRoot(dir)
	defer root.Close()
	fe := f
	id, err := journalIdentityOf(&fe, tPlen)
	if err != nil {
		t.Fatal(err)
	}
	jn, _ := newJournal(journalRootFS{root}, "f.bin", id, nil, nil)
	part, _ := root.Create("f.bin.part")
	part.WriteAt(data[:128<<10], 0)
	part.Truncate(int64(len(data)))
	if err := jn.commit(part, nil); err != nil {
		t.Fatal(err)
	}
	part.Close()

	rep, err := runGet(t, f, fastOpts(dir), m.URL())
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dir, "f.bin", data)
	if got := rep.Files[0].Resumed; got != 8 {
		t.Errorf("resumed %d pieces, want the 8 written before the kill", got)
	}
	if n := m.BytesServed(); n > 128<<10 {
		t.Errorf("fetched %d bytes, want only the missing 128 KiB", n)
	}
}
