package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/metalink"
)

// Errors a Hasher returns (wrapped in a *PathError naming the file).
var (
	// ErrChanged: the file's size or modification time differed after hashing.
	ErrChanged = errors.New("file changed while it was being hashed")
	// ErrNotRegular: the name is a fifo, device, socket or directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrOutsideRoot: a symbolic link leads out of the published root.
	ErrOutsideRoot = errors.New("symbolic link leaves the published root")
)

// PathError is an error about one input file.
type PathError struct {
	// Path is the file's path as the user would recognise it.
	Path string
	// Err is the cause; it may wrap ErrChanged, ErrNotRegular, ErrOutsideRoot,
	// an fs error or a read error.
	Err error
}

func (e *PathError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

// Piece-size bounds accepted by Hasher.PieceSize and chosen by AutoPieceSize.
const (
	MinPieceSize = 1 << 10
	MaxPieceSize = 1 << 30
	// autoPieceMin, autoPieceMax and autoPieceCount define AutoPieceSize.
	autoPieceMin   = 1 << 20
	autoPieceMax   = 16 << 20
	autoPieceCount = 4096
)

// AutoPieceSize is the piece length chosen for a file of size bytes: 1 MiB,
// doubled while the file would have more than 4096 pieces, up to 16 MiB. So every
// file up to 4 GiB gets 1 MiB pieces, an 8 GiB file 2 MiB, 64 GiB and larger 16 MiB
// (a 1 TiB file has 65536 pieces, about 4.5 MB of piece hashes in the document).
func AutoPieceSize(size int64) int64 {
	p := int64(autoPieceMin)
	for p < autoPieceMax && size > p*autoPieceCount {
		p *= 2
	}
	return p
}

// Hasher computes the metalink description (size, whole-file hashes, piece
// hashes) of files, using a Cache when one is set. The zero value hashes with
// sha-256, sha-256 pieces of AutoPieceSize, without a cache. A Hasher is safe for
// concurrent use; do not change its fields while it is in use.
type Hasher struct {
	// Cache, if set, is consulted and filled.
	Cache *Cache
	// Hashes are the whole-file hash names (canonical or any spelling
	// metalink.NormalizeHashName accepts); nil means sha-256.
	Hashes []string
	// PieceHash is the piece hash name; "" means sha-256.
	PieceHash string
	// PieceSize is the piece length in bytes, MinPieceSize..MaxPieceSize;
	// 0 means AutoPieceSize of each file's size.
	PieceSize int64
	// Progress, if set, is called with byte counts as they are read (from several
	// goroutines at once when files are hashed concurrently).
	Progress func(n int64)
}

// params returns the canonical hash list and piece hash, or an error naming a bad one.
func (h *Hasher) params() (hashes []string, pieceHash string, err error) {
	names := h.Hashes
	if len(names) == 0 {
		names = []string{"sha-256"}
	}
	for _, n := range names {
		c, ok := metalink.NormalizeHashName(n)
		if !ok {
			return nil, "", fmt.Errorf("unsupported hash %q (supported: %s)", n, strings.Join(metalink.SupportedHashes(), ", "))
		}
		if !slices.Contains(hashes, c) {
			hashes = append(hashes, c)
		}
	}
	pieceHash = "sha-256"
	if h.PieceHash != "" {
		c, ok := metalink.NormalizeHashName(h.PieceHash)
		if !ok {
			return nil, "", fmt.Errorf("unsupported piece hash %q (supported: %s)", h.PieceHash, strings.Join(metalink.SupportedHashes(), ", "))
		}
		pieceHash = c
	}
	if h.PieceSize != 0 && (h.PieceSize < MinPieceSize || h.PieceSize > MaxPieceSize) {
		return nil, "", fmt.Errorf("piece size %d out of range %d..%d", h.PieceSize, MinPieceSize, MaxPieceSize)
	}
	return hashes, pieceHash, nil
}

// Check reports whether the Hasher's settings are valid, without hashing anything.
func (h *Hasher) Check() error {
	_, _, err := h.params()
	return err
}

// Sums returns a File with Name (= name), Size, Hashes and Pieces filled, and no
// URLs, for the regular file name (slash-separated, relative) inside root. The
// file is opened through root, so symbolic links cannot leave it. An unchanged
// file (same size, mtime, ctime, device, inode, hash settings) is answered from
// the cache. A file whose size or mtime differ after hashing is an error
// wrapping ErrChanged. Errors are *PathError values.
func (h *Hasher) Sums(ctx context.Context, root *os.Root, name string) (*metalink.File, error) {
	f, _, err := h.sums(ctx, root, name)
	return f, err
}

// racyWindow: a file modified this recently before hashing started is not cached,
// since a later write within the file system's timestamp granularity could leave
// its mtime unchanged.
const racyWindow = 2 * time.Second

// sums is Sums that also says whether the answer came from the cache.
func (h *Hasher) sums(ctx context.Context, root *os.Root, name string) (*metalink.File, bool, error) {
	display := filepath.Join(root.Name(), filepath.FromSlash(name))
	fail := func(err error) (*metalink.File, bool, error) {
		return nil, false, &PathError{Path: display, Err: err}
	}
	hashes, pieceHash, err := h.params()
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	// Stat first: opening a socket fails with ENXIO and a device may have side effects.
	if st, err := root.Stat(filepath.FromSlash(name)); err != nil {
		return fail(classifyOpenError(unwrapPathErr(err)))
	} else if !st.Mode().IsRegular() {
		return fail(fmt.Errorf("%w (%s)", ErrNotRegular, describeMode(st.Mode())))
	}
	f, err := root.OpenFile(filepath.FromSlash(name), os.O_RDONLY|openFlags, 0)
	if err != nil {
		return fail(classifyOpenError(unwrapPathErr(err)))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return fail(fmt.Errorf("%w (%s)", ErrNotRegular, describeMode(fi.Mode())))
	}
	id := identify(fi)
	size := fi.Size()
	plen := h.PieceSize
	if plen == 0 {
		plen = AutoPieceSize(size)
	}
	abs, err := filepath.Abs(display)
	if err != nil {
		return fail(err)
	}
	key := cacheKey(abs, strings.Join(hashes, ",")+";"+pieceHash+";"+strconv.FormatInt(plen, 10))
	if e := h.Cache.get(key, id); e != nil {
		if h.Progress != nil {
			h.Progress(size)
		}
		return entryFile(name, size, e), true, nil
	}
	res, err := digest.Sum(ctx, f, size, digest.Options{
		Hashes: hashes, PieceHash: pieceHash, PieceLength: plen, Progress: h.Progress,
	})
	if err != nil {
		if errors.Is(err, digest.ErrShortRead) {
			err = fmt.Errorf("%w: %w", ErrChanged, err)
		}
		return fail(err)
	}
	after, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if a := identify(after); a.Size != id.Size || a.MtimeNs != id.MtimeNs || a.CtimeNs != id.CtimeNs {
		return fail(fmt.Errorf("%w (size %d -> %d, mtime %s -> %s)", ErrChanged, id.Size, a.Size,
			fi.ModTime().Format(time.RFC3339Nano), after.ModTime().Format(time.RFC3339Nano)))
	}
	if now, err := root.Stat(filepath.FromSlash(name)); err != nil || !os.SameFile(now, after) {
		return fail(fmt.Errorf("%w (the name was replaced by another file)", ErrChanged))
	}
	e := &cacheEntry{ID: id, PieceType: pieceHash, PieceLength: plen, Pieces: res.PiecesHex()}
	for _, d := range res.Hashes {
		e.Hashes = append(e.Hashes, metalink.Hash{Type: d.Type, Value: res.Hex(d.Type)})
	}
	if fi.ModTime().Before(start.Add(-racyWindow)) {
		h.Cache.put(key, e)
	}
	return entryFile(name, size, e), false, nil
}

// entryFile turns a cache entry into a metalink File.
func entryFile(name string, size int64, e *cacheEntry) *metalink.File {
	f := &metalink.File{Name: name, Size: size, Hashes: slices.Clone(e.Hashes)}
	if len(e.Pieces) > 0 {
		f.Pieces = []metalink.Pieces{{Length: e.PieceLength, Type: e.PieceType, Hashes: slices.Clone(e.Pieces)}}
	}
	return f
}

// classifyOpenError recognises os.Root's "path escapes from parent".
func classifyOpenError(err error) error {
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%w: %w", ErrOutsideRoot, err)
	}
	return err
}

func describeMode(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a fifo"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}
