package fetch

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNoSource: some piece (or the whole file) could not be obtained from any mirror:
	// every mirror failed, was dropped or sent bad data for it. No final file is written.
	ErrNoSource = errors.New("no usable source")
	// ErrVerify: the assembled file failed a whole-file hash (or the size check). The
	// partial file is removed; nothing reaches the final name.
	ErrVerify = errors.New("verification failed")
	// ErrExists: the final name exists with other content (or is a symlink or not a
	// regular file) and Options.Overwrite is not set. The existing file is untouched.
	ErrExists = errors.New("file exists and differs")
	// ErrNoHash: the file has no supported hash and Options.InsecureNoHash is not set.
	ErrNoHash = errors.New("no supported hash to verify against")
	// ErrWeakHash: only md5/sha-1 hashes and Options.RequireStrongHash is set.
	ErrWeakHash = errors.New("only weak hashes (md5, sha-1)")
	// ErrNoFiles: nothing to download (no file entries, or Select matched none).
	ErrNoFiles = errors.New("no files selected")
	// ErrUsage: the options are inconsistent (e.g. Output with several files).
	ErrUsage = errors.New("invalid options")
	// ErrLocked: another process is downloading to the same output (NAME.part.lock).
	ErrLocked = journalErrLocked
	// ErrNoSpace: the target file system is full. Get checks the free space before any
	// request ("no space left on DIR: need X, Y free"); when it fills up during the
	// download (another writer, no preallocation), the part file and its journal are
	// kept, so the same call completes, keeping the verified pieces, once space is freed.
	ErrNoSpace = errors.New("no space left")

	// Mirror-scoped causes, found inside *PieceError and mirror reports.

	// ErrSizeMismatch: a mirror reported a total size other than the metalink's.
	ErrSizeMismatch = errors.New("mirror serves another size")
	// ErrBadResponse: a response broke the strict rules (Content-Range, length, encoding).
	ErrBadResponse = errors.New("bad response")
	// ErrPieceHash: a piece did not match its piece hash.
	ErrPieceHash = errors.New("piece hash mismatch")
	// ErrNoRange: the mirror answered 200 to a Range request.
	ErrNoRange = errors.New("mirror ignores Range")
	// ErrRedirect: a redirect was refused (too many, non-http(s) scheme, https to http).
	ErrRedirect = errors.New("redirect refused")
	// ErrStalled: the mirror sent less than the low-speed limit for a whole window.
	ErrStalled = errors.New("mirror too slow or stalled")
	// ErrChanged: the mirror's copy of the file changed since its validators (ETag,
	// Last-Modified) were taken: it answered If-Range with 200, or a 206 with another
	// ETag. The mirror is dropped (MirrorChanged).
	ErrChanged = errors.New("mirror's file changed")
	// ErrStale: the mirror advertises a whole-file digest (Digest or Repr-Digest
	// header) that differs from the metalink's hash of the same algorithm: it serves
	// another version of the file (RFC 6249 section 7). The mirror is dropped before
	// its body is read.
	ErrStale = errors.New("mirror serves another version of the file")
)

// PieceError says what went wrong with one piece from one mirror. Index is -1 when
// the error concerns the whole file.
type PieceError struct {
	// File is the metalink name of the file.
	File string
	// Index is the 0-based piece index (-1: whole file).
	Index int
	// Mirror is the (redacted) mirror URL, empty when no mirror is to blame.
	Mirror string
	// Err is the cause, wrapping one of the sentinels.
	Err error
}

func (e *PieceError) Error() string {
	where := fmt.Sprintf("%s: piece %d", e.File, e.Index)
	if e.Index < 0 {
		where = e.File
	}
	if e.Mirror != "" {
		where += " from " + e.Mirror
	}
	return where + ": " + e.Err.Error()
}

func (e *PieceError) Unwrap() error { return e.Err }
