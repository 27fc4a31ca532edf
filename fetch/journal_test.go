package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

// journalTestFile describes data as a metalink entry with sha-256 pieces of pieceLen.
func journalTestFile(name string, data []byte, pieceLen int64) *metalink.File {
	sum := sha256.Sum256(data)
	f := &metalink.File{Name: name, Size: int64(len(data)), Hashes: []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}}}
	p := metalink.Pieces{Length: pieceLen, Type: "sha-256"}
	for off := int64(0); off < int64(len(data)); off += pieceLen {
		s := sha256.Sum256(data[off:min(off+pieceLen, int64(len(data)))])
		p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
	}
	f.Pieces = []metalink.Pieces{p}
	return f
}

func journalTestData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func journalTestID(t testing.TB, name string, data []byte, pieceLen int64) journalIdentity {
	t.Helper()
	id, err := journalIdentityOf(journalTestFile(name, data, pieceLen), 0)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func openTestRoot(t *testing.T) (*os.Root, string) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root, dir
}

func TestJournalRoundTrip(t *testing.T) {
	root, dir := openTestRoot(t)
	if err := root.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	const name = "sub/x.iso"
	data := journalTestData(10*1000 + 7)
	id := journalTestID(t, name, data, 1000)
	fsys := journalRootFS{root}

	part, err := root.OpenFile(name+".part", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	j, err := newJournal(fsys, name, id, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.setValidator("https://a.example/x.iso", journalValidator{ETag: `"abc"`, LastModified: "Tue, 24 Nov 2026 10:00:00 GMT"})
	j.setValidator("https://b.example/x.iso", journalValidator{LastModified: "Mon, 23 Nov 2026 10:00:00 GMT"})
	if err := j.commit(part, []int{0, 3, 10}); err != nil {
		t.Fatal(err)
	}
	if err := j.commit(part, []int{4}); err != nil {
		t.Fatal(err)
	}

	st, err := journalLoad(fsys, name, id)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	want := make([]bool, 11)
	want[0], want[3], want[4], want[10] = true, true, true, true
	if !reflect.DeepEqual(st.done, want) {
		t.Errorf("done = %v, want %v", st.done, want)
	}
	if !maps.Equal(st.validators, j.validators) || len(st.validators) != 2 {
		t.Errorf("validators = %v, want %v", st.validators, j.validators)
	}
	if st.seq != 2 {
		t.Errorf("seq = %d, want 2", st.seq)
	}
	fi, err := os.Stat(filepath.Join(dir, "sub", "x.iso.part.mlj"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "sub"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	// A fresh journal seeded from the loaded state carries it on.
	j2, err := newJournal(fsys, name, id, st.done, st.validators)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := j2.validator("https://a.example/x.iso"); !ok || v.ETag != `"abc"` {
		t.Errorf("validator after reload = %+v, %v", v, ok)
	}
	j2.forget([]int{3})
	if err := j2.commit(part, nil); err != nil {
		t.Fatal(err)
	}
	st, err = journalLoad(fsys, name, id)
	if err != nil || st.done[3] || !st.done[4] {
		t.Errorf("after forget: %v %v", st, err)
	}
	if err := j2.remove(); err != nil {
		t.Fatal(err)
	}
	var de *journalDiscardError
	if _, err := journalLoad(fsys, name, id); !errors.As(err, &de) || de.Reason != journalMissing || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after remove: %v", err)
	}
	if err := j2.commit(part, []int{11}); err == nil {
		t.Error("commit of an out-of-range piece accepted")
	}
}

func TestJournalIdentity(t *testing.T) {
	data := journalTestData(5000)
	f := journalTestFile("a", data, 1000)
	id, err := journalIdentityOf(f, 0)
	if err != nil || id.PieceLength != 1000 || id.PieceType != "sha-256" || id.pieceCount() != 5 {
		t.Fatalf("identity %+v, %v", id, err)
	}
	// Without piece hashes the engine's chunk length is used.
	g := *f
	g.Pieces = nil
	id2, err := journalIdentityOf(&g, 4096)
	if err != nil || id2.PieceType != "" || id2.PieceLength != 4096 || id2.pieceCount() != 2 {
		t.Fatalf("chunk identity %+v, %v", id2, err)
	}
	if _, err := journalIdentityOf(&g, 0); err == nil {
		t.Error("no pieces and no chunk length accepted")
	}
	g.Size = -1
	if _, err := journalIdentityOf(&g, 4096); err == nil {
		t.Error("unknown size accepted")
	}
	g.Size = 1 << 50
	if _, err := journalIdentityOf(&g, 1); err == nil {
		t.Error("absurd piece count accepted")
	}
}

// journalResign recomputes the checksum of a (patched) journal.
func journalResign(b []byte) []byte {
	b = bytes.Clone(b)
	end := len(b) - journalSumLen
	sum := sha256.Sum256(b[:end])
	copy(b[end:], sum[:])
	return b
}

// journalCountOffset is where pieceCount sits in an encoding of id.
func journalCountOffset(id journalIdentity) int {
	return journalHeaderLen + 8 + 2 + len(id.Name) + 8 + 1 + len(id.HashType) + 1 + len(id.HashValue) + 1 + len(id.PieceType) + 8 + 32
}

func TestJournalCorruption(t *testing.T) {
	data := journalTestData(20*100 + 3)
	id := journalTestID(t, "f.bin", data, 100)
	done := make([]bool, id.pieceCount())
	done[1], done[20] = true, true
	good, err := journalEncode(&journalState{id: id, seq: 9, done: done,
		validators: map[string]journalValidator{"https://m/f.bin": {ETag: `W/"x"`}, "https://n/f.bin": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := journalDecode(good, &id); err != nil {
		t.Fatalf("valid journal refused: %v", err)
	}
	countAt := journalCountOffset(id)
	bitmapEnd := countAt + 8 + 3
	patch := func(at int, b ...byte) []byte {
		c := bytes.Clone(good)
		copy(c[at:], b)
		return journalResign(c)
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	other := func(mod func(*journalIdentity)) []byte {
		o := id
		mod(&o)
		b, err := journalEncode(&journalState{id: o, done: make([]bool, o.pieceCount())})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withBody := func(extra []byte) []byte {
		c := bytes.Clone(good[:len(good)-journalSumLen])
		c = append(c, extra...)
		binary.BigEndian.PutUint32(c[12:], uint32(len(c)-journalHeaderLen))
		return journalResign(append(c, make([]byte, journalSumLen)...))
	}
	cases := []struct {
		name   string
		b      []byte
		reason journalReason
	}{
		{"empty", nil, journalBadMagic},
		{"garbage", []byte("this is not a journal at all, just some text\n"), journalBadMagic},
		{"magic only", []byte(journalMagic), journalMalformed},
		{"other version", patch(8, 0, 2), journalBadVersion},
		{"version 0", patch(8, 0, 0), journalBadVersion},
		{"flipped body byte", func() []byte { c := bytes.Clone(good); c[40] ^= 1; return c }(), journalBadChecksum},
		{"flipped checksum byte", func() []byte { c := bytes.Clone(good); c[len(c)-1] ^= 1; return c }(), journalBadChecksum},
		{"truncated", good[:len(good)-1], journalMalformed},
		{"truncated body", good[:len(good)/2], journalMalformed},
		{"appended byte", append(bytes.Clone(good), 0), journalMalformed},
		{"body length lies", patch(12, 0xff, 0xff, 0xff, 0xff), journalMalformed},
		{"reserved bits", patch(10, 0, 1), journalMalformed},
		{"absurd piece count", patch(countAt, u64(1<<62)...), journalMalformed},
		{"count beyond cap", patch(countAt, u64(journalMaxPieces+1)...), journalMalformed},
		{"count not matching geometry", patch(countAt, u64(22)...), journalMalformed},
		{"padding bits claim piece 21", patch(bitmapEnd-1, 0x10|0x20), journalMalformed},
		{"absurd mirror count", patch(bitmapEnd, 0xff, 0xff), journalMalformed},
		{"mirror count past the data", patch(bitmapEnd, 0, 3), journalMalformed},
		{"name length past the data", patch(journalHeaderLen+8, 0xff, 0xff), journalMalformed},
		{"trailing body bytes", withBody([]byte{1, 2, 3}), journalMalformed},
		{"other name", other(func(o *journalIdentity) { o.Name = "g.bin" }), journalOtherFile},
		{"other version of the file", other(func(o *journalIdentity) { o.HashValue = strings.Repeat("0", 64) }), journalOtherFile},
		{"other size", other(func(o *journalIdentity) { o.Size++ }), journalOtherFile},
		{"other piece length", other(func(o *journalIdentity) { o.PieceLength = 50 }), journalOtherFile},
		{"other piece hashes", other(func(o *journalIdentity) { o.PiecesDigest[0] ^= 1 }), journalOtherFile},
	}
	// A negative size with a resigned checksum.
	negSize := patch(journalHeaderLen+8+2+len(id.Name), u64(1<<63)...)
	cases = append(cases, struct {
		name   string
		b      []byte
		reason journalReason
	}{"negative size", negSize, journalMalformed})

	root, _ := openTestRoot(t)
	fsys := journalRootFS{root}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := root.WriteFile("f.bin"+journalSuffix, tc.b, 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := journalLoad(fsys, "f.bin", id)
			var de *journalDiscardError
			if !errors.As(err, &de) {
				t.Fatalf("loaded %+v, err %v; want discard (%v)", st, err, tc.reason)
			}
			if de.Reason != tc.reason {
				t.Errorf("reason %v (%v), want %v", de.Reason, err, tc.reason)
			}
			if !strings.Contains(err.Error(), "f.bin.part.mlj") {
				t.Errorf("error %q does not name the journal", err)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		big := make([]byte, journalMaxSize+10)
		copy(big, good)
		if err := root.WriteFile("f.bin"+journalSuffix, big, 0o600); err != nil {
			t.Fatal(err)
		}
		var de *journalDiscardError
		if _, err := journalLoad(fsys, "f.bin", id); !errors.As(err, &de) || de.Reason != journalTooLarge {
			t.Errorf("err = %v, want too large", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		root.Remove("f.bin" + journalSuffix)
		if err := root.Mkdir("f.bin"+journalSuffix, 0o700); err != nil { // a directory: read fails
			t.Fatal(err)
		}
		var de *journalDiscardError
		if _, err := journalLoad(fsys, "f.bin", id); !errors.As(err, &de) || de.Reason != journalUnreadable {
			t.Errorf("err = %v, want unreadable", err)
		}
	})
	t.Run("truncated at every length", func(t *testing.T) {
		for n := range len(good) {
			if st, _, err := journalDecode(good[:n], &id); err == nil {
				t.Fatalf("prefix of %d bytes decoded: %+v", n, st)
			}
		}
	})
}

// TestJournalClaimsReverified shows the resume flow: the journal's claims are not
// trusted, they select which pieces to re-hash; a claim beyond the partial file's end or
// over bytes changed behind our back comes back false.
func TestJournalClaimsReverified(t *testing.T) {
	root, dir := openTestRoot(t)
	const name = "r.bin"
	data := journalTestData(8 * 512)
	f := journalTestFile(name, data, 512)
	id, _ := journalIdentityOf(f, 0)
	part := append(bytes.Clone(data[:5*512]), make([]byte, 0)...)
	part[2*512+7] ^= 0xff // flipped after it was recorded
	if err := os.WriteFile(filepath.Join(dir, name+".part"), part, 0o600); err != nil {
		t.Fatal(err)
	}
	j, _ := newJournal(journalRootFS{root}, name, id, nil, nil)
	if err := j.commit(nopSyncer{}, []int{0, 1, 2, 4, 6, 7}); err != nil { // 6, 7 lie beyond the .part
		t.Fatal(err)
	}
	st, err := journalLoad(journalRootFS{root}, name, id)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := root.Open(name + ".part")
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	good, err := verify.Pieces(context.Background(), pf, f.Size, &f.Pieces[0], st.done, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false, false, true, false, false, false}; !reflect.DeepEqual(good, want) {
		t.Errorf("re-verified %v, want %v", good, want)
	}
}

type nopSyncer struct{}

func (nopSyncer) Sync() error { return nil }

type failSyncer struct{ err error }

func (f failSyncer) Sync() error { return f.err }

func TestJournalCommitSyncFailure(t *testing.T) {
	root, _ := openTestRoot(t)
	data := journalTestData(4000)
	id := journalTestID(t, "e.bin", data, 1000)
	fsys := journalRootFS{root}
	j, _ := newJournal(fsys, "e.bin", id, nil, nil)
	if err := j.commit(nopSyncer{}, []int{0}); err != nil {
		t.Fatal(err)
	}
	eio := errors.New("input/output error")
	if err := j.commit(failSyncer{eio}, []int{1, 2}); !errors.Is(err, eio) {
		t.Fatalf("commit with failing fsync: %v", err)
	}
	st, err := journalLoad(fsys, "e.bin", id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.done, []bool{true, false, false, false}) {
		t.Errorf("after failed fsync the journal claims %v", st.done)
	}
	if c := j.claimed(); c[1] || c[2] {
		t.Errorf("in memory, pieces of a failed fsync are claimed: %v", c)
	}
}

func TestJournalSaveFailureKeepsOld(t *testing.T) {
	data := journalTestData(3000)
	id := journalTestID(t, "k.bin", data, 1000)
	p := newPLFS()
	j, _ := newJournal(p, "k.bin", id, nil, nil)
	if err := j.commit(nopSyncer{}, []int{0}); err != nil {
		t.Fatal(err)
	}
	p.failRename = errors.New("rename: no space left on device")
	if err := j.commit(nopSyncer{}, []int{1}); err == nil {
		t.Fatal("commit with failing rename succeeded")
	}
	for n := range p.live {
		if strings.HasSuffix(n, ".tmp") {
			t.Errorf("temporary %s left after a failed save", n)
		}
	}
	st, err := journalLoad(p, "k.bin", id)
	if err != nil || !reflect.DeepEqual(st.done, []bool{true, false, false}) {
		t.Errorf("old journal not intact: %+v, %v", st, err)
	}
}

func TestJournalLock(t *testing.T) {
	root, dir := openTestRoot(t)
	l1, err := journalLock(root, "x.iso")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := journalLock(root, "x.iso"); !errors.Is(err, journalErrLocked) || !strings.Contains(err.Error(), "x.iso.part.lock") {
		t.Fatalf("second lock: %v, want journalErrLocked naming the lock file", err)
	}
	// Another output in the same directory is independent.
	l3, err := journalLock(root, "y.iso")
	if err != nil {
		t.Fatal(err)
	}
	defer l3.release()
	fi, err := os.Stat(filepath.Join(dir, "x.iso.part.lock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", fi, err)
	}
	if err := l1.release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.iso.part.lock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file remains after release: %v", err)
	}
	l2, err := journalLock(root, "x.iso")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.release()
	// A lock file left by a killed process does not block.
	if err := root.WriteFile("z.iso.part.lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l4, err := journalLock(root, "z.iso")
	if err != nil {
		t.Fatalf("stale lock file blocked: %v", err)
	}
	l4.release()
}

// TestJournalLockContention races many lockers, each releasing when done: at no time
// may two hold the same lock (release removes the file, which a waiter may have opened).
func TestJournalLockContention(t *testing.T) {
	root, _ := openTestRoot(t)
	var mu sync.Mutex
	holders, maxHolders, wins := 0, 0, 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				l, err := journalLock(root, "c.bin")
				if err != nil {
					if !errors.Is(err, journalErrLocked) {
						t.Error(err)
						return
					}
					runtime.Gosched()
					continue
				}
				mu.Lock()
				holders++
				wins++
				maxHolders = max(maxHolders, holders)
				mu.Unlock()
				runtime.Gosched()
				mu.Lock()
				holders--
				mu.Unlock()
				if err := l.release(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if maxHolders != 1 || wins == 0 {
		t.Errorf("max simultaneous holders %d (want 1), %d acquisitions", maxHolders, wins)
	}
}

func FuzzJournal(f *testing.F) {
	data := journalTestData(30 * 64)
	id := journalTestID(f, "dir/f.bin", data, 64)
	for _, done := range [][]int{nil, {0}, {3, 29}} {
		st := &journalState{id: id, seq: 1, done: make([]bool, id.pieceCount()), validators: map[string]journalValidator{}}
		for _, i := range done {
			st.done[i] = true
		}
		if len(done) > 1 {
			st.validators["https://m.example/f.bin"] = journalValidator{ETag: `"e"`, LastModified: "Wed, 25 Nov 2026 00:00:00 GMT"}
		}
		b, err := journalEncode(st)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(journalMagic + "\x00\x01\x00\x00\xff\xff\xff\xff"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// The raw input exercises the framing; a fixed-up copy (valid header and
		// checksum) lets mutations reach the body parser.
		fuzzJournalDecode(t, b)
		fuzzJournalDecode(t, journalFixup(b))
	})
}

// journalFixup gives b a valid magic, version, body length and checksum.
func journalFixup(b []byte) []byte {
	c := bytes.Clone(b)
	if len(c) < journalHeaderLen+journalSumLen {
		c = append(c, make([]byte, journalHeaderLen+journalSumLen-len(c))...)
	}
	copy(c, journalMagic)
	binary.BigEndian.PutUint16(c[8:], journalVersion)
	binary.BigEndian.PutUint16(c[10:], 0)
	binary.BigEndian.PutUint32(c[12:], uint32(len(c)-journalHeaderLen-journalSumLen))
	return journalResign(c)
}

func fuzzJournalDecode(t *testing.T, b []byte) {
	{
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st, reason, err := journalDecode(b, nil)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(16*len(b))+1<<20 {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(b), alloc)
		}
		if err != nil {
			if reason == 0 {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		// What decodes must re-encode to something that decodes the same.
		enc, err := journalEncode(st)
		if err != nil {
			t.Fatalf("decoded state does not re-encode: %v", err)
		}
		st2, _, err := journalDecode(enc, &st.id)
		if err != nil || !reflect.DeepEqual(st.done, st2.done) || len(st.validators) != len(st2.validators) || st.seq != st2.seq {
			t.Fatalf("round trip changed the state: %v", err)
		}
	}
}

// ---- power-loss simulation ----

var errCrash = errors.New("simulated power loss")

// plInode is one file: what a crash would keep (durable) and what reads see now (live).
type plInode struct {
	durable, live []byte
}

// plFS is a file system that loses everything not fsynced: file contents become durable
// on the file's Sync, directory entries (create, rename, remove) on the directory's Sync.
// After crashAt operations every operation fails with errCrash and changes nothing.
type plFS struct {
	mu         sync.Mutex
	ops        int
	crashAt    int // -1: never
	failRename error
	live       map[string]*plInode // directory as processes see it
	durable    map[string]*plInode // directory as a crash would leave it
}

func newPLFS() *plFS {
	return &plFS{crashAt: -1, live: map[string]*plInode{}, durable: map[string]*plInode{}}
}

func (p *plFS) stepLocked() error {
	if p.crashAt >= 0 && p.ops >= p.crashAt {
		return errCrash
	}
	p.ops++
	return nil
}

// reboot returns the file system a crash now would leave: durable entries with their
// durable contents; files whose content was being appended keep a torn prefix.
func (p *plFS) reboot() *plFS {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := newPLFS()
	for n, ino := range p.durable {
		keep := bytes.Clone(ino.durable)
		if len(ino.live) > len(keep) && bytes.HasPrefix(ino.live, keep) {
			keep = append(keep, ino.live[len(keep):len(keep)+(len(ino.live)-len(keep))/2]...) // torn
		}
		c := &plInode{durable: keep, live: bytes.Clone(keep)}
		q.live[n], q.durable[n] = c, c
	}
	return q
}

func (p *plFS) OpenFile(name string, flag int, perm fs.FileMode) (journalFile, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stepLocked(); err != nil {
		return nil, err
	}
	if name == "." {
		return &plHandle{fs: p, dir: true}, nil
	}
	ino, ok := p.live[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		ino = &plInode{}
		p.live[name] = ino
	}
	if flag&os.O_TRUNC != 0 {
		ino.live = nil
	}
	return &plHandle{fs: p, ino: ino}, nil
}

func (p *plFS) Rename(o, n string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stepLocked(); err != nil {
		return err
	}
	if p.failRename != nil {
		return p.failRename
	}
	ino, ok := p.live[o]
	if !ok {
		return &fs.PathError{Op: "rename", Path: o, Err: fs.ErrNotExist}
	}
	p.live[n] = ino
	delete(p.live, o)
	return nil
}

func (p *plFS) Remove(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stepLocked(); err != nil {
		return err
	}
	if _, ok := p.live[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(p.live, name)
	return nil
}

// plHandle is an open file (or the directory, for Sync).
type plHandle struct {
	fs  *plFS
	ino *plInode
	dir bool
	pos int
}

func (h *plHandle) Read(b []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.dir {
		return 0, errors.New("is a directory")
	}
	if h.pos >= len(h.ino.live) {
		return 0, io.EOF
	}
	n := copy(b, h.ino.live[h.pos:])
	h.pos += n
	return n, nil
}

func (h *plHandle) Write(b []byte) (int, error) { return h.WriteAt(b, int64(len(h.ino.live))) }

func (h *plHandle) WriteAt(b []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.stepLocked(); err != nil {
		return 0, err
	}
	if end := int(off) + len(b); end > len(h.ino.live) {
		h.ino.live = append(h.ino.live, make([]byte, end-len(h.ino.live))...)
	}
	copy(h.ino.live[off:], b)
	return len(b), nil
}

func (h *plHandle) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.stepLocked(); err != nil {
		return err
	}
	if h.dir {
		h.fs.durable = maps.Clone(h.fs.live)
	} else {
		h.ino.durable = bytes.Clone(h.ino.live)
	}
	return nil
}

func (h *plHandle) Close() error { return nil }

// plCommit is the commit under test; the negative control swaps in a wrong ordering.
type plCommit func(j *journal, part journalSyncer, pieces []int) error

// plRun plays a download of data in pieces of pieceLen through p, committing batches, and
// returns the operation counts at which each commit had returned successfully.
func plRun(p *plFS, id journalIdentity, data []byte, commit plCommit) (committed []int, batches [][]int) {
	batches = [][]int{{0, 1}, {2}, {5, 6, 7}, {3, 4}}
	pf, err := p.OpenFile("p.bin.part", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, batches
	}
	part := pf.(*plHandle)
	if part.Sync() != nil || journalSyncDir(p, ".") != nil {
		return nil, batches
	}
	j, _ := newJournal(p, "p.bin", id, nil, nil)
	L := id.PieceLength
	for _, batch := range batches {
		for _, i := range batch {
			off := int64(i) * L
			if _, err := part.WriteAt(data[off:min(off+L, int64(len(data)))], off); err != nil {
				return committed, batches
			}
		}
		if err := commit(j, part, batch); err != nil {
			return committed, batches
		}
		p.mu.Lock()
		committed = append(committed, p.ops)
		p.mu.Unlock()
	}
	return committed, batches
}

// plCheck crashes p and reports pieces the surviving journal claims whose bytes did not
// survive, and how many pieces it claims.
func plCheck(p *plFS, id journalIdentity, data []byte) (violations []int, claimed int, err error) {
	q := p.reboot()
	st, err := journalLoad(q, "p.bin", id)
	if err != nil {
		var de *journalDiscardError
		if !errors.As(err, &de) {
			return nil, 0, fmt.Errorf("load after crash: %v (not a discard)", err)
		}
		return nil, 0, nil
	}
	part := q.live["p.bin.part"]
	L := id.PieceLength
	for i, ok := range st.done {
		if !ok {
			continue
		}
		claimed++
		off := int64(i) * L
		end := min(off+L, int64(len(data)))
		if part == nil || int64(len(part.durable)) < end || !bytes.Equal(part.durable[off:end], data[off:end]) {
			violations = append(violations, i)
		}
	}
	return violations, claimed, nil
}

// TestJournalPowerLoss crashes a simulated download after every possible operation and
// checks that a journal surviving the crash never claims a piece whose bytes were lost,
// and that everything a successful commit recorded survives.
func TestJournalPowerLoss(t *testing.T) {
	data := journalTestData(8*16 - 5)
	id := journalTestID(t, "p.bin", data, 16)
	real := func(j *journal, part journalSyncer, pieces []int) error { return j.commit(part, pieces) }

	full := newPLFS()
	committedAt, batches := plRun(full, id, data, real)
	if len(committedAt) != len(batches) {
		t.Fatalf("the crash-free run committed %d of %d batches", len(committedAt), len(batches))
	}
	total := full.ops
	sawClaims := 0
	for k := 0; k <= total; k++ {
		p := newPLFS()
		p.crashAt = k
		plRun(p, id, data, real)
		bad, claimed, err := plCheck(p, id, data)
		if err != nil {
			t.Fatalf("crash after %d ops: %v", k, err)
		}
		if len(bad) > 0 {
			t.Fatalf("crash after %d ops: the journal claims pieces %v whose bytes were not durable", k, bad)
		}
		if claimed > 0 {
			sawClaims++
		}
		// Durability: a crash right after the n-th successful commit keeps its pieces.
		want := 0
		for n, at := range committedAt {
			if k >= at {
				want += len(batches[n])
			}
		}
		if claimed < want {
			t.Fatalf("crash after %d ops: journal claims %d pieces, %d were committed", k, claimed, want)
		}
	}
	if sawClaims == 0 {
		t.Fatal("no crash point left a journal with claims: the test checks nothing")
	}

	// Negative control: saving before syncing the partial file must be caught.
	wrong := func(j *journal, part journalSyncer, pieces []int) error {
		if err := j.commit(nopSyncer{}, pieces); err != nil {
			return err
		}
		return part.Sync()
	}
	caught := false
	for k := 0; k <= total && !caught; k++ {
		p := newPLFS()
		p.crashAt = k
		plRun(p, id, data, wrong)
		bad, _, _ := plCheck(p, id, data)
		caught = len(bad) > 0
	}
	if !caught {
		t.Error("the simulation did not catch a commit that saves the journal before fsyncing the data")
	}
}

func TestJournalResume(t *testing.T) {
	ctx := context.Background()
	const L = 256
	data := journalTestData(10*L - 7)
	f := journalTestFile("z.bin", data, L)
	id, _ := journalIdentityOf(f, 0)
	root, _ := openTestRoot(t)
	fsys := journalRootFS{root}
	v := map[string]journalValidator{"https://m/z.bin": {ETag: `"1"`}}

	// Neither journal nor part file: a fresh start, no complaint.
	good, _, discarded, err := journalResume(ctx, fsys, nil, f, id)
	if good != nil || discarded != nil || err != nil {
		t.Fatalf("fresh: %v %v %v", good, discarded, err)
	}

	// A journal claiming 0-5; the part file holds 0-7 but piece 2 was damaged since.
	part := bytes.Clone(data[:8*L])
	part[2*L] ^= 1
	claims := []bool{true, true, true, true, true, true, false, false, false, false}
	j, _ := newJournal(fsys, "z.bin", id, claims, v)
	if err := j.commit(nopSyncer{}, nil); err != nil {
		t.Fatal(err)
	}
	good, vals, discarded, err := journalResume(ctx, fsys, bytes.NewReader(part), f, id)
	if err != nil || discarded != nil {
		t.Fatal(err, discarded)
	}
	if want := []bool{true, true, false, true, true, true, false, false, false, false}; !reflect.DeepEqual(good, want) {
		t.Errorf("resume with journal: %v, want %v (claims re-verified, unclaimed pieces not read)", good, want)
	}
	if !maps.Equal(vals, v) {
		t.Errorf("validators %v", vals)
	}

	// The journal damaged: the whole part file is scanned, unclaimed good pieces included.
	b, _ := root.ReadFile("z.bin" + journalSuffix)
	b[20] ^= 1
	root.WriteFile("z.bin"+journalSuffix, b, 0o600)
	good, vals, discarded, err = journalResume(ctx, fsys, bytes.NewReader(part), f, id)
	var de *journalDiscardError
	if err != nil || !errors.As(discarded, &de) || de.Reason != journalBadChecksum || vals != nil {
		t.Fatalf("damaged journal: %v %v %v", discarded, err, vals)
	}
	if want := []bool{true, true, false, true, true, true, true, true, false, false}; !reflect.DeepEqual(good, want) {
		t.Errorf("scan: %v, want %v", good, want)
	}

	// A journal whose part file is gone is not used.
	j.commit(nopSyncer{}, nil)
	if good, _, discarded, _ := journalResume(ctx, fsys, nil, f, id); good != nil || !errors.As(discarded, &de) || de.Reason != journalOrphan {
		t.Errorf("orphan journal: %v %v", good, discarded)
	}

	// Without piece hashes the claims are taken as they are; a part without a journal gives nothing.
	g := *f
	g.Pieces = nil
	cid, _ := journalIdentityOf(&g, L)
	cj, _ := newJournal(fsys, "z.bin", cid, claims, nil)
	cj.commit(nopSyncer{}, nil)
	if good, _, _, err := journalResume(ctx, fsys, bytes.NewReader(part), &g, cid); err != nil || !reflect.DeepEqual(good, claims) {
		t.Errorf("chunks: %v %v", good, err)
	}
	cj.remove()
	if good, _, discarded, _ := journalResume(ctx, fsys, bytes.NewReader(part), &g, cid); good != nil || discarded == nil {
		t.Errorf("chunks without journal: %v %v", good, discarded)
	}
}
