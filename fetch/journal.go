package fetch

// The resume journal: which pieces of NAME.part are verified and fsynced, and what each
// mirror's validators were, kept beside the partial file as NAME.part.mlj.
//
// # File format (version 1)
//
// All integers are big-endian. The file is
//
//	magic      8 bytes   "MLNKJRNL"
//	version    uint16    1
//	reserved   uint16    0
//	bodyLen    uint32    length of body (the file is exactly 16 + bodyLen + 32 bytes)
//	body       bodyLen bytes
//	checksum   32 bytes  sha-256 of everything before it (header and body)
//
// and the body is
//
//	seq          uint64    save counter (diagnostics only)
//	name         str16     metalink file name
//	size         int64     file size in bytes (>= 0)
//	hashType     str8      strongest whole-file hash type, "" when none
//	hashValue    str8      its lowercase hex value
//	pieceType    str8      piece hash type, "" when the file has no piece hashes
//	pieceLength  int64     piece (or chunk) length (> 0)
//	piecesDigest 32 bytes  sha-256 over the piece hashes, each followed by "\n" (zero when none)
//	pieceCount   uint64    ceil(size / pieceLength), at most journalMaxPieces
//	bitmap       ceil(pieceCount/8) bytes: bit i%8 (LSB first) of byte i/8 = piece i done;
//	                       padding bits zero
//	mirrorCount  uint16    at most journalMaxMirrors
//	mirrors      mirrorCount × (url str16, etag str16, lastModified str8), URLs distinct
//
// where strN is an N-bit length followed by that many bytes of UTF-8. Everything up to
// "pieceCount" is the file identity: a journal whose identity differs from the metalink
// entry being fetched (another file, another version of it, another piece geometry) is
// discarded. Every length is checked against a cap and against the bytes remaining
// before anything is allocated, so a hostile or damaged journal costs at most
// journalMaxSize bytes of memory and is reported, never trusted.
//
// # How the engine uses it
//
//  1. Before any network traffic: journalLock(root, name); a journalErrLocked error means
//     another mlink is writing this output: fail fast. Release it when the run ends
//     (release removes NAME.part.lock; a lock left by a killed process never blocks).
//  2. id := journalIdentityOf(f, chunkLen); st, err := journalLoad(journalRootFS{root}, name, id).
//     Loaded: re-verify only what it claims, verify.Pieces(ctx, part, f.Size, pieces,
//     st.done, ...), and start from that. Discarded (any *journalDiscardError other than
//     journalMissing, or journalMissing while NAME.part exists): hash-scan the part file,
//     verify.Pieces(..., nil, ...), keep the good pieces. Missing and no part file: fresh.
//     Without piece hashes (id.PieceType == "") claims cannot be re-verified: use them,
//     and if the whole-file hash then fails, start over. journalResume does all of step 2.
//  3. j := newJournal(fsys, name, id, good, st.validators); s := journalStartSink(j, part,
//     time.Second, stopWithDiskError). Call s.pieceWritten(i) after piece i's hash verified
//     AND its WriteAt returned, never before.
//  4. Mirrors: send If-Range from j.validator(url) (a strong ETag, else Last-Modified);
//     record a mirror's ETag/Last-Modified with j.setValidator on its first 206. A 200 to
//     an If-Range request, or validators that changed, mean the mirror's file changed: drop it.
//  5. Stop on interruption: s.close() (commits the queue), keep NAME.part and the journal.
//     Disk error: s.close() returns it; keep both (the journal claims only fsynced pieces).
//     Success: s.close(), whole-file verification, rename to the final name, j.remove().

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

const (
	journalSuffix       = ".part.mlj"
	journalMagic        = "MLNKJRNL"
	journalVersion      = 1
	journalHeaderLen    = 16
	journalSumLen       = sha256.Size
	journalMaxSize      = 16 << 20 // whole file
	journalMaxName      = 4096
	journalMaxPieces    = 1 << 24 // 2 MiB of bitmap; 16 TiB in 1 MiB pieces
	journalMaxMirrors   = 1024
	journalMaxURL       = 8192
	journalMaxValidator = 1024
)

// journalIdentity binds a journal to one metalink file entry.
type journalIdentity struct {
	Name         string
	Size         int64
	HashType     string
	HashValue    string
	PieceType    string
	PieceLength  int64
	PiecesDigest [32]byte
}

// journalIdentityOf derives the identity of f. Its pieces are the strongest piece-hash
// set; when f has none, chunkLen (the engine's unit of work, > 0) is used and PieceType
// stays empty, meaning the recorded chunks cannot be re-verified before the whole-file hash.
func journalIdentityOf(f *metalink.File, chunkLen int64) (journalIdentity, error) {
	id := journalIdentity{Name: f.Name, Size: f.Size, PieceLength: chunkLen}
	if f.Size < 0 {
		return id, fmt.Errorf("journal for %q: file size unknown", f.Name)
	}
	if h, ok := f.StrongestHash(); ok {
		id.HashType, id.HashValue = h.Type, h.Value
	}
	if p := f.StrongestPieces(); p != nil {
		id.PieceType, id.PieceLength = p.Type, p.Length
		d := sha256.New()
		for _, h := range p.Hashes {
			d.Write([]byte(h))
			d.Write([]byte{'\n'})
		}
		d.Sum(id.PiecesDigest[:0])
	}
	if id.PieceLength <= 0 {
		return id, fmt.Errorf("journal for %q: piece length %d", f.Name, id.PieceLength)
	}
	if n := id.pieceCount(); n > journalMaxPieces {
		return id, fmt.Errorf("journal for %q: %d pieces exceed the journal's cap of %d", f.Name, n, journalMaxPieces)
	}
	return id, nil
}

// pieceCount is ceil(Size/PieceLength) without overflow.
func (id journalIdentity) pieceCount() int64 {
	if id.Size <= 0 || id.PieceLength <= 0 {
		return 0
	}
	return (id.Size-1)/id.PieceLength + 1
}

// journalValidator is what a mirror said about its copy of the file, sent back as
// If-Range on later requests so a changed file is caught before it wastes a piece.
type journalValidator struct {
	ETag         string
	LastModified string
}

// journalState is the content of a journal file.
type journalState struct {
	id         journalIdentity
	seq        uint64
	done       []bool // len == id.pieceCount()
	validators map[string]journalValidator
}

// journalReason says why a journal was not used.
type journalReason int

const (
	journalMissing     journalReason = iota + 1 // no journal file
	journalUnreadable                           // I/O error while reading it
	journalTooLarge                             // larger than journalMaxSize
	journalBadMagic                             // not a journal at all
	journalBadVersion                           // a journal format this version does not read
	journalBadChecksum                          // damaged (or torn) contents
	journalMalformed                            // well-checksummed but inconsistent: bad lengths, caps, padding
	journalOtherFile                            // bound to another file, version or piece geometry
	journalOrphan                               // the partial file it describes is gone
)

func (r journalReason) String() string {
	switch r {
	case journalMissing:
		return "missing"
	case journalUnreadable:
		return "unreadable"
	case journalTooLarge:
		return "too large"
	case journalBadMagic:
		return "not a journal"
	case journalBadVersion:
		return "unsupported version"
	case journalBadChecksum:
		return "checksum mismatch"
	case journalMalformed:
		return "malformed"
	case journalOtherFile:
		return "belongs to another file"
	case journalOrphan:
		return "its partial file is missing"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// journalDiscardError reports a journal that was not loaded, and why. The partial file
// must then be hash-scanned (or, when Reason is journalMissing and there is no partial
// file, the download starts afresh).
type journalDiscardError struct {
	Path   string
	Reason journalReason
	Err    error // detail, may be nil
}

func (e *journalDiscardError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("resume journal %s: %s: %v", e.Path, e.Reason, e.Err)
	}
	return fmt.Sprintf("resume journal %s: %s", e.Path, e.Reason)
}

func (e *journalDiscardError) Unwrap() error { return e.Err }

// journalFS is the file system a journal lives in: an *os.Root in production
// (journalRootFS), a fault-injecting fake in tests.
type journalFS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (journalFile, error)
	Rename(oldname, newname string) error
	Remove(name string) error
}

// journalFile is the part of *os.File the journal uses.
type journalFile interface {
	io.Reader
	io.Writer
	Sync() error
	Close() error
}

// journalRootFS adapts an *os.Root.
type journalRootFS struct{ root *os.Root }

func (r journalRootFS) OpenFile(name string, flag int, perm fs.FileMode) (journalFile, error) {
	f, err := r.root.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}
func (r journalRootFS) Rename(o, n string) error { return r.root.Rename(o, n) }
func (r journalRootFS) Remove(name string) error { return r.root.Remove(name) }

// journalPath is the journal's name (inside the download root) for the file name.
func journalPath(name string) string { return name + journalSuffix }

// journalLoad reads the journal of the file name from fsys and checks it against id.
// Any failure is a *journalDiscardError; errors.Is(err, fs.ErrNotExist) holds when
// there is simply no journal.
func journalLoad(fsys journalFS, name string, id journalIdentity) (*journalState, error) {
	p := journalPath(name)
	f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &journalDiscardError{p, journalMissing, err}
		}
		return nil, &journalDiscardError{p, journalUnreadable, err}
	}
	defer f.Close()
	// Read at most one byte more than the cap: the allocation is bounded whatever the file says.
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, journalMaxSize+1)); err != nil {
		return nil, &journalDiscardError{p, journalUnreadable, err}
	}
	if buf.Len() > journalMaxSize {
		return nil, &journalDiscardError{p, journalTooLarge, fmt.Errorf("more than %d bytes", journalMaxSize)}
	}
	st, reason, err := journalDecode(buf.Bytes(), &id)
	if err != nil {
		return nil, &journalDiscardError{p, reason, err}
	}
	return st, nil
}

// journalIdentityDiff names the first identity field that differs.
func journalIdentityDiff(got, want journalIdentity) error {
	switch {
	case got.Name != want.Name:
		return fmt.Errorf("name %q, want %q", got.Name, want.Name)
	case got.Size != want.Size:
		return fmt.Errorf("size %d, want %d", got.Size, want.Size)
	case got.HashType != want.HashType || got.HashValue != want.HashValue:
		return fmt.Errorf("hash %s:%s, want %s:%s", got.HashType, got.HashValue, want.HashType, want.HashValue)
	case got.PieceType != want.PieceType || got.PieceLength != want.PieceLength:
		return fmt.Errorf("pieces %s × %d, want %s × %d", got.PieceType, got.PieceLength, want.PieceType, want.PieceLength)
	}
	return errors.New("piece hashes differ")
}

// journalDecode parses a whole journal file. When want is not nil, a journal of another
// identity is refused (journalOtherFile) before its piece flags are allocated. It never
// allocates more than a small multiple of len(b) and never panics.
func journalDecode(b []byte, want *journalIdentity) (*journalState, journalReason, error) {
	if len(b) < len(journalMagic) || string(b[:len(journalMagic)]) != journalMagic {
		return nil, journalBadMagic, errors.New("no journal magic")
	}
	if len(b) < journalHeaderLen+journalSumLen {
		return nil, journalMalformed, fmt.Errorf("truncated: %d bytes", len(b))
	}
	if v := binary.BigEndian.Uint16(b[8:]); v != journalVersion {
		return nil, journalBadVersion, fmt.Errorf("version %d, this mlink reads %d", v, journalVersion)
	}
	bodyLen := uint64(binary.BigEndian.Uint32(b[12:]))
	if uint64(len(b)) != journalHeaderLen+bodyLen+journalSumLen {
		return nil, journalMalformed, fmt.Errorf("file is %d bytes, header says %d", len(b), journalHeaderLen+bodyLen+journalSumLen)
	}
	end := len(b) - journalSumLen
	sum := sha256.Sum256(b[:end])
	if !bytes.Equal(sum[:], b[end:]) {
		return nil, journalBadChecksum, errors.New("contents do not match their sha-256 (damaged or torn write)")
	}
	if binary.BigEndian.Uint16(b[10:]) != 0 {
		return nil, journalMalformed, errors.New("reserved header bits set")
	}
	d := journalDecoder{b: b[journalHeaderLen:end]}
	st := &journalState{}
	st.seq = d.u64()
	st.id.Name = d.str(16, journalMaxName)
	st.id.Size = int64(d.u64())
	st.id.HashType = d.str(8, 255)
	st.id.HashValue = d.str(8, 255)
	st.id.PieceType = d.str(8, 255)
	st.id.PieceLength = int64(d.u64())
	copy(st.id.PiecesDigest[:], d.bytes(32))
	count := d.u64()
	if d.err == nil {
		switch {
		case st.id.Size < 0:
			d.fail("negative size %d", st.id.Size)
		case st.id.PieceLength <= 0:
			d.fail("piece length %d", st.id.PieceLength)
		case count > journalMaxPieces:
			d.fail("%d pieces exceed the cap of %d", count, journalMaxPieces)
		case int64(count) != st.id.pieceCount():
			d.fail("%d pieces for %d bytes in pieces of %d", count, st.id.Size, st.id.PieceLength)
		}
	}
	if d.err == nil && want != nil && st.id != *want {
		return nil, journalOtherFile, journalIdentityDiff(st.id, *want)
	}
	bitmap := d.bytes(int((count + 7) / 8))
	if d.err == nil {
		st.done = make([]bool, count)
		for i := range st.done {
			st.done[i] = bitmap[i/8]&(1<<(i%8)) != 0
		}
		if rem := count % 8; rem != 0 && bitmap[len(bitmap)-1]>>rem != 0 {
			d.fail("bitmap claims pieces beyond piece %d", count-1)
		}
	}
	nm := d.u16()
	if d.err == nil && nm > journalMaxMirrors {
		d.fail("%d mirrors exceed the cap of %d", nm, journalMaxMirrors)
	}
	if d.err == nil && nm > 0 {
		st.validators = make(map[string]journalValidator, min(int(nm), len(d.b)/5+1))
	}
	for i := 0; d.err == nil && i < int(nm); i++ {
		u := d.str(16, journalMaxURL)
		v := journalValidator{ETag: d.str(16, journalMaxValidator), LastModified: d.str(8, 255)}
		if _, dup := st.validators[u]; dup && d.err == nil {
			d.fail("mirror %q listed twice", u)
		}
		st.validators[u] = v
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the last field", len(d.b))
	}
	if d.err != nil {
		return nil, journalMalformed, d.err
	}
	return st, 0, nil
}

// journalDecoder reads fields off a byte slice, remembering the first error.
type journalDecoder struct {
	b   []byte
	err error
}

func (d *journalDecoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
}

func (d *journalDecoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated: field of %d bytes, %d left", n, len(d.b))
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *journalDecoder) u64() uint64 {
	if b := d.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *journalDecoder) u16() uint16 {
	if b := d.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// str reads a string with a bits-wide length prefix (8 or 16), capped at max bytes.
func (d *journalDecoder) str(bits, max int) string {
	var n int
	if bits == 8 {
		if b := d.bytes(1); b != nil {
			n = int(b[0])
		}
	} else {
		n = int(d.u16())
	}
	if d.err != nil {
		return ""
	}
	if n > max {
		d.fail("string of %d bytes exceeds the cap of %d", n, max)
		return ""
	}
	b := d.bytes(n)
	if d.err == nil && !utf8.Valid(b) {
		d.fail("string is not UTF-8")
	}
	return string(b)
}

// journalEncode serialises st (the inverse of journalDecode).
func journalEncode(st *journalState) ([]byte, error) {
	id := st.id
	count := id.pieceCount()
	if int64(len(st.done)) != count {
		return nil, fmt.Errorf("journal: %d piece flags for %d pieces", len(st.done), count)
	}
	if len(st.validators) > journalMaxMirrors {
		return nil, fmt.Errorf("journal: %d mirrors exceed the cap of %d", len(st.validators), journalMaxMirrors)
	}
	var e journalEncoder
	e.b = append(e.b, journalMagic...)
	e.b = binary.BigEndian.AppendUint16(e.b, journalVersion)
	e.b = binary.BigEndian.AppendUint16(e.b, 0)
	e.b = binary.BigEndian.AppendUint32(e.b, 0) // body length, patched below
	e.b = binary.BigEndian.AppendUint64(e.b, st.seq)
	e.str(16, journalMaxName, id.Name)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(id.Size))
	e.str(8, 255, id.HashType)
	e.str(8, 255, id.HashValue)
	e.str(8, 255, id.PieceType)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(id.PieceLength))
	e.b = append(e.b, id.PiecesDigest[:]...)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(count))
	bitmap := make([]byte, (count+7)/8)
	for i, ok := range st.done {
		if ok {
			bitmap[i/8] |= 1 << (i % 8)
		}
	}
	e.b = append(e.b, bitmap...)
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(st.validators)))
	urls := make([]string, 0, len(st.validators))
	for u := range st.validators {
		urls = append(urls, u)
	}
	slices.Sort(urls)
	for _, u := range urls {
		v := st.validators[u]
		e.str(16, journalMaxURL, u)
		e.str(16, journalMaxValidator, v.ETag)
		e.str(8, 255, v.LastModified)
	}
	if e.err != nil {
		return nil, e.err
	}
	bodyLen := len(e.b) - journalHeaderLen
	if len(e.b)+journalSumLen > journalMaxSize {
		return nil, fmt.Errorf("journal: %d bytes exceed the cap of %d", len(e.b)+journalSumLen, journalMaxSize)
	}
	binary.BigEndian.PutUint32(e.b[12:], uint32(bodyLen))
	sum := sha256.Sum256(e.b)
	return append(e.b, sum[:]...), nil
}

type journalEncoder struct {
	b   []byte
	err error
}

func (e *journalEncoder) str(bits, max int, s string) {
	if len(s) > max || !utf8.ValidString(s) {
		if e.err == nil {
			e.err = fmt.Errorf("journal: field %.40q too long or not UTF-8", s)
		}
		return
	}
	if bits == 8 {
		e.b = append(e.b, byte(len(s)))
	} else {
		e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(s)))
	}
	e.b = append(e.b, s...)
}

// journalSave writes st as the journal of the file name, atomically: the bytes go to a
// fresh temporary file (random name, O_EXCL, mode 0600) in the same directory, which is
// fsynced, renamed over the old journal, and then the directory is fsynced. A crash at
// any point leaves either the old journal or the new one, never a mix; a leftover
// temporary file (NAME.part.mlj.*.tmp) is harmless.
func journalSave(fsys journalFS, name string, st *journalState) error {
	data, err := journalEncode(st)
	if err != nil {
		return err
	}
	p := journalPath(name)
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := p + "." + hex.EncodeToString(rnd[:]) + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save resume journal: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, p)
	}
	if err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("save resume journal %s: %w", p, err)
	}
	if err := journalSyncDir(fsys, path.Dir(p)); err != nil {
		return fmt.Errorf("save resume journal %s: sync directory: %w", p, err)
	}
	return nil
}

// journalSyncDir fsyncs a directory so that a rename in it is durable.
func journalSyncDir(fsys journalFS, dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// journalSyncer is the partial file as commit sees it: something to fsync.
type journalSyncer interface{ Sync() error }

// journal is the live resume state of one download. Its methods are safe for
// concurrent use.
type journal struct {
	fsys journalFS
	name string
	id   journalIdentity

	mu         sync.Mutex
	seq        uint64
	done       []bool
	validators map[string]journalValidator
}

// newJournal starts the journal of the file name. good lists the pieces already known
// to be on disk and verified (from a loaded journal after re-verification, or a hash
// scan of the partial file); nil means none. validators may be nil.
func newJournal(fsys journalFS, name string, id journalIdentity, good []bool, validators map[string]journalValidator) (*journal, error) {
	n := id.pieceCount()
	if good != nil && int64(len(good)) != n {
		return nil, fmt.Errorf("journal for %q: %d piece flags for %d pieces", name, len(good), n)
	}
	j := &journal{fsys: fsys, name: name, id: id, done: make([]bool, n), validators: map[string]journalValidator{}}
	copy(j.done, good)
	for u, v := range validators {
		j.validators[u] = v
	}
	return j, nil
}

// commit makes the pieces in written durable and records them. It fsyncs part first;
// only if that succeeds are the pieces marked done and the journal saved (journalSave:
// temp file, fsync, rename, directory fsync). So a journal on disk never claims a piece
// whose bytes were not fsynced before it was written.
//
// written must list only pieces whose hash verified and whose WriteAt into part had
// returned before commit was called; pieces written concurrently belong to a later
// commit. When part.Sync fails (EIO, ENOSPC), nothing is recorded: the caller must treat
// the pieces written since the last successful commit as not done. Call it at least once
// a second while pieces complete, and before exiting on an interruption. With no new
// pieces, commit still saves (e.g. to persist new validators).
func (j *journal) commit(part journalSyncer, written []int) error {
	if err := part.Sync(); err != nil {
		return fmt.Errorf("sync %s.part: %w", j.name, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, i := range written {
		if i < 0 || i >= len(j.done) {
			return fmt.Errorf("journal for %q: piece %d out of range [0, %d)", j.name, i, len(j.done))
		}
	}
	for _, i := range written {
		j.done[i] = true
	}
	j.seq++
	return journalSave(j.fsys, j.name, &journalState{id: j.id, seq: j.seq, done: j.done, validators: j.validators})
}

// claimed returns a copy of the done flags.
func (j *journal) claimed() []bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.done)
}

// forget marks pieces as not done (a later check found them bad); it takes effect on disk
// at the next commit.
func (j *journal) forget(pieces []int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, i := range pieces {
		if i >= 0 && i < len(j.done) {
			j.done[i] = false
		}
	}
}

// setValidator remembers what mirror url said about the file (saved at the next commit).
// Values too long to store are dropped rather than truncated.
func (j *journal) setValidator(url string, v journalValidator) {
	if len(url) > journalMaxURL || len(v.ETag) > journalMaxValidator || len(v.LastModified) > 255 ||
		!utf8.ValidString(url) || !utf8.ValidString(v.ETag) || !utf8.ValidString(v.LastModified) {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.validators[url]; !ok && len(j.validators) >= journalMaxMirrors {
		return
	}
	j.validators[url] = v
}

// validator returns what mirror url said about the file in this or an earlier run.
func (j *journal) validator(url string) (journalValidator, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v, ok := j.validators[url]
	return v, ok
}

// remove deletes the journal once the file is complete under its final name.
func (j *journal) remove() error {
	err := j.fsys.Remove(journalPath(j.name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove resume journal: %w", err)
	}
	return nil
}

// journalResume decides where a download of f restarts (steps 2 and 3 of the protocol
// above): it loads the journal of f.Name and re-verifies the pieces it claims against
// part, or, when the journal is missing or discarded but a part file exists (part !=
// nil), hash-scans the whole part file. It returns the pieces known good, the remembered
// validators, and the reason a journal was discarded (nil when it was used, or when
// there was neither journal nor part file). err is an I/O error reading part or ctx's.
//
// Without piece hashes (id.PieceType == "") a loaded journal's claims are returned as
// they are (they cannot be checked before the whole-file hash), and a part file without
// a usable journal yields nothing.
func journalResume(ctx context.Context, fsys journalFS, part io.ReaderAt, f *metalink.File, id journalIdentity) (good []bool, validators map[string]journalValidator, discarded error, err error) {
	pieces := f.StrongestPieces()
	if id.PieceType == "" {
		pieces = nil
	}
	st, lerr := journalLoad(fsys, f.Name, id)
	switch {
	case lerr == nil && part == nil:
		// A journal without its part file: nothing on disk to resume.
		return nil, nil, &journalDiscardError{journalPath(f.Name), journalOrphan, nil}, nil
	case lerr == nil && pieces == nil:
		return st.done, st.validators, nil, nil
	case lerr == nil:
		good, err := verify.Pieces(ctx, part, f.Size, pieces, st.done, verify.Options{})
		if err != nil {
			return nil, nil, nil, err
		}
		return good, st.validators, nil, nil
	case part == nil:
		if errors.Is(lerr, fs.ErrNotExist) {
			lerr = nil // a fresh start
		}
		return nil, nil, lerr, nil
	case pieces == nil:
		return nil, nil, lerr, nil
	}
	good, err = verify.Pieces(ctx, part, f.Size, pieces, nil, verify.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	return good, nil, lerr, nil
}
