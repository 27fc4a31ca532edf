package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// interruptMidPieces downloads data (pieces of plen) from one throttled mirror, two
// pieces at a time, and cancels once the mirror served cut bytes: both pieces in
// flight are then unfinished, their first bytes streamed into the part file.
func interruptMidPieces(t *testing.T, ml *metalink.Metalink, m *mirrortest.Mirror, dir string, cut int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := fastOpts(dir)
	o.PerMirror, o.RequestSeconds, o.ProgressInterval = 2, 0.001, 10*time.Millisecond
	var once sync.Once
	o.OnEvent = func(e Event) {
		if e.Kind == EventProgress && m.BytesServed() >= cut {
			once.Do(cancel)
		}
	}
	if _, err := Get(ctx, ml, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want context.Canceled", err)
	}
}

// Resume waste: a run interrupted in the middle of pieces leaves their first bytes in
// the part file (streamed as they arrived), and the next run asks only for the rest of
// those pieces; each is still verified whole.
func TestResumePartialPieces(t *testing.T) {
	const plen = 1 << 20
	data, f := testFile(t, "f.bin", 3*plen, plen, 90)
	m := mirrortest.Start(t, data, mirrortest.Throttle(2<<20))
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	interruptMidPieces(t, ml, m, dir, 1200<<10)

	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	assertFile(t, dir, "f.bin", data)
	fr := rep.Files[0]
	t.Logf("resumed %d pieces and %d bytes of unfinished ones; fetched %d bytes", fr.Resumed, fr.ResumedPartial, fr.Bytes)
	if fr.ResumedPartial < streamBatch {
		t.Errorf("resumed %d bytes of unfinished pieces, want at least one streamed batch (%d)", fr.ResumedPartial, streamBatch)
	}
	// One mirror (no races): exactly the bytes not on disk were fetched.
	if want := f.Size - int64(fr.Resumed)*plen - fr.ResumedPartial; fr.Bytes != want {
		t.Errorf("fetched %d bytes, want the %d missing", fr.Bytes, want)
	}
}

// A wrong prefix (damaged on disk, or never fsynced before a crash) fails the piece
// hash; the piece is then fetched whole, and the mirror (the only one: blaming it
// would leave no source) is not blamed.
func TestResumePartialPrefixDamaged(t *testing.T) {
	const plen = 1 << 20
	data, f := testFile(t, "f.bin", 3*plen, plen, 91)
	m := mirrortest.Start(t, data, mirrortest.Throttle(2<<20))
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	interruptMidPieces(t, ml, m, dir, 1200<<10)

	name := filepath.Join(dir, "f.bin.part")
	part, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	damaged := 0
	for off := 0; off < len(data); off += plen {
		p := part[off : off+plen]
		if !bytes.Equal(p, data[off:off+plen]) && bytes.Equal(p[:1024], data[off:off+1024]) {
			part[off+10] ^= 0xff // a prefix the next run would take: make it wrong
			damaged++
		}
	}
	if damaged == 0 {
		t.Skip("no unfinished piece with a prefix on disk after the interruption (machine too slow?)")
	}
	if err := os.WriteFile(name, part, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatalf("resume with %d damaged prefixes: %v", damaged, err)
	}
	assertFile(t, dir, "f.bin", data)
	fr := rep.Files[0]
	if fr.BadPieces != 0 || fr.Mirrors[0].BadPieces != 0 || fr.Mirrors[0].State != MirrorActive {
		t.Errorf("the mirror was blamed for a damaged prefix: %+v", fr.Mirrors[0])
	}
	if fr.ResumedPartial == 0 {
		t.Error("the damaged prefixes were not even tried")
	}
}

// writeLog records the part file writes of the engine.
type writeLog struct {
	io.WriterAt
	io.ReaderAt
	mu     sync.Mutex
	zeroed []int64 // offsets of all-zero writes
}

func (w *writeLog) WriteAt(b []byte, off int64) (int, error) {
	if isZero(b) {
		w.mu.Lock()
		w.zeroed = append(w.zeroed, off)
		w.mu.Unlock()
	}
	return w.WriterAt.WriteAt(b, off)
}

// A response that fails in the middle of a piece is rejected: what it streamed into
// the part file is overwritten with zeros, so no later resume takes it as a prefix.
func TestStreamedBytesOfFailedResponseDiscarded(t *testing.T) {
	const plen = 1 << 20
	data, f := testFile(t, "f.bin", 3*plen, plen, 92)
	m := mirrortest.Start(t, data, mirrortest.DropAfterTotal(600<<10), mirrortest.Throttle(8<<20))
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	var log *writeLog
	testWrapPart = func(p partFile) partFile {
		log = &writeLog{WriterAt: p, ReaderAt: p}
		return log
	}
	t.Cleanup(func() { testWrapPart = nil })
	o := fastOpts(dir)
	o.PerMirror, o.RequestSeconds = 1, 0.001
	if _, err := Get(context.Background(), ml, o); err != nil {
		t.Fatal(err)
	}
	testWrapPart = nil
	assertFile(t, dir, "f.bin", data)
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.zeroed) == 0 || log.zeroed[0] != 0 {
		t.Errorf("zeroing writes at %v; want the bytes piece 0 streamed before the cut (from offset 0) discarded", log.zeroed)
	}
}
