package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrCacheBusy is returned by OpenCache when another process holds the cache open.
var ErrCacheBusy = errors.New("hash cache is in use by another process")

// cacheBucket holds one entry per (absolute path, hash parameters).
var cacheBucket = []byte("files.v1")

// cacheVersion is stored in every entry; entries of another version are misses.
const cacheVersion = 1

// Cache is a persistent hash cache (a bbolt file): the hashes and piece hashes of
// a file, keyed by its absolute path and the hash parameters, valid while its size,
// mtime, ctime, device and inode are unchanged. Entries carry a sha-256 checksum;
// a damaged file or entry is discarded with a warning, never trusted.
// A Cache is safe for concurrent use; Close it when done.
type Cache struct {
	path string
	db   *bolt.DB

	mu       sync.Mutex
	warnings []string // guarded by mu
	broken   bool     // guarded by mu: a bbolt panic was recovered; the cache is bypassed
}

// fileID is what must be unchanged for a cache entry to be used.
type fileID struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime"`
	CtimeNs int64  `json:"ctime"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
}

// cacheEntry is one stored result.
type cacheEntry struct {
	Version     int             `json:"v"`
	ID          fileID          `json:"id"`
	Hashes      []metalink.Hash `json:"hashes"`
	PieceType   string          `json:"ptype"`
	PieceLength int64           `json:"plen"`
	Pieces      []string        `json:"pieces"`
}

// OpenCache opens (creating it and its directory if needed) the hash cache at path.
// A file that is not a valid cache is moved aside to path+".damaged" and a fresh
// cache is created; Warnings says so. If another process has the cache open,
// OpenCache gives up after two seconds with an error wrapping ErrCacheBusy.
func OpenCache(path string) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("hash cache: %w", err)
	}
	c := &Cache{path: path}
	db, err := openBolt(path)
	if err == nil {
		err = checkBolt(db)
		if err != nil {
			db.Close()
		}
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("hash cache %s: %w", path, ErrCacheBusy)
	}
	var pe *os.PathError
	if err != nil && errors.As(err, &pe) && (errors.Is(err, os.ErrPermission)) {
		return nil, fmt.Errorf("hash cache: %w", err)
	}
	if err != nil {
		c.warn(fmt.Sprintf("hash cache %s was damaged (%v); moved to %s.damaged and rebuilt", path, err, path))
		if rerr := os.Rename(path, path+".damaged"); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			if rerr := os.Remove(path); rerr != nil {
				return nil, fmt.Errorf("hash cache %s is damaged and cannot be replaced: %w", path, rerr)
			}
		}
		db, err = openBolt(path)
		if err != nil {
			return nil, fmt.Errorf("hash cache %s: %w", path, err)
		}
	}
	c.db = db
	return c, nil
}

// openBolt opens a bbolt file, turning a panic in bbolt's checks into an error.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("bbolt panic: %v", r)
		}
	}()
	// NoSync: a cache write is not worth an fsync per batch (2000 small files took
	// 14 s, 0.3 s without). Close syncs once; a crash can lose or damage the file,
	// which the checks on open and the entry checksums turn into a rebuild.
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: true})
}

// checkBolt runs bbolt's consistency check and creates the bucket.
func checkBolt(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panic: %v", r)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return cerr
		}
		return nil
	})
	if err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(cacheBucket)
		return err
	})
}

// Path returns the cache file's path.
func (c *Cache) Path() string { return c.path }

// Warnings returns what went wrong with the cache so far (a rebuilt file, a
// discarded entry, a failed write); the cache never fails a hashing because of them.
func (c *Cache) Warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.warnings...)
}

func (c *Cache) warn(s string) {
	c.mu.Lock()
	c.warnings = append(c.warnings, s)
	c.mu.Unlock()
}

// Close syncs and closes the cache file. A cache found damaged while in use is moved
// aside to path+".damaged" so that the next OpenCache starts afresh.
func (c *Cache) Close() error {
	if c == nil || c.db == nil {
		return nil
	}
	err := c.db.Sync()
	if cerr := c.db.Close(); err == nil {
		err = cerr
	}
	c.mu.Lock()
	broken := c.broken
	c.mu.Unlock()
	if broken {
		if rerr := os.Rename(c.path, c.path+".damaged"); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

func (c *Cache) usable() bool {
	if c == nil || c.db == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.broken
}

// recovered turns a bbolt panic (a damaged page) into a bypassed cache and a warning.
func (c *Cache) recovered(op string) {
	if r := recover(); r != nil {
		c.mu.Lock()
		c.broken = true
		c.warnings = append(c.warnings, fmt.Sprintf("hash cache %s: %s failed (%v); cache bypassed for this run and rebuilt on the next", c.path, op, r))
		c.mu.Unlock()
	}
}

// get returns the stored entry for key if it is intact and describes id.
func (c *Cache) get(key string, id fileID) (e *cacheEntry) {
	if !c.usable() {
		return nil
	}
	defer c.recovered("read")
	var raw []byte
	_ = c.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(cacheBucket); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				raw = bytes.Clone(v)
			}
		}
		return nil
	})
	if raw == nil {
		return nil
	}
	ent, err := decodeEntry(raw)
	if err != nil {
		c.warn(fmt.Sprintf("hash cache %s: entry for %s discarded: %v", c.path, keyPath(key), err))
		c.delete(key)
		return nil
	}
	if ent.ID != id {
		return nil
	}
	return ent
}

// put stores an entry; failures become warnings.
func (c *Cache) put(key string, e *cacheEntry) {
	if !c.usable() {
		return
	}
	defer c.recovered("write")
	e.Version = cacheVersion
	payload, err := json.Marshal(e)
	if err != nil {
		c.warn(fmt.Sprintf("hash cache: %v", err))
		return
	}
	sum := sha256.Sum256(payload)
	val := append(sum[:], payload...)
	err = c.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(cacheBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), val)
	})
	if err != nil {
		c.warn(fmt.Sprintf("hash cache %s: write for %s failed: %v", c.path, keyPath(key), err))
	}
}

func (c *Cache) delete(key string) {
	_ = c.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(cacheBucket); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
}

// decodeEntry checks the checksum and the shape of a stored entry.
func decodeEntry(raw []byte) (*cacheEntry, error) {
	if len(raw) < sha256.Size {
		return nil, errors.New("truncated")
	}
	sum := sha256.Sum256(raw[sha256.Size:])
	if !bytes.Equal(sum[:], raw[:sha256.Size]) {
		return nil, errors.New("checksum mismatch")
	}
	var e cacheEntry
	if err := json.Unmarshal(raw[sha256.Size:], &e); err != nil {
		return nil, err
	}
	if e.Version != cacheVersion {
		return nil, fmt.Errorf("version %d", e.Version)
	}
	for _, h := range e.Hashes {
		if n := metalink.HashHexLen(h.Type); n == 0 || len(h.Value) != n || !isLowerHex(h.Value) {
			return nil, fmt.Errorf("malformed %s hash", h.Type)
		}
	}
	if e.PieceLength <= 0 && len(e.Pieces) > 0 {
		return nil, errors.New("pieces without a length")
	}
	p := metalink.Pieces{Length: e.PieceLength}
	if int64(len(e.Pieces)) != p.Count(e.ID.Size) {
		return nil, errors.New("wrong piece count")
	}
	n := metalink.HashHexLen(e.PieceType)
	for _, h := range e.Pieces {
		if len(h) != n || !isLowerHex(h) {
			return nil, fmt.Errorf("malformed %s piece hash", e.PieceType)
		}
	}
	return &e, nil
}

func isLowerHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) > 0 && !bytes.ContainsAny([]byte(s), "ABCDEF")
}

// cacheKey is the absolute path, NUL, then the hash parameters.
func cacheKey(abs, params string) string { return abs + "\x00" + params }

func keyPath(key string) string {
	if i := bytes.IndexByte([]byte(key), 0); i >= 0 {
		return key[:i]
	}
	return key
}
