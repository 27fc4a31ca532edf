package digest

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

// Names lists the canonical hash names this package implements, strongest first.
var names = []string{"sha-512", "sha-384", "sha-256", "sha-224", "sha-1", "md5"}

// Names returns the canonical hash names New accepts, strongest first.
func Names() []string { return append([]string(nil), names...) }

// UnknownHashError reports a hash name New does not implement.
type UnknownHashError struct {
	// Name is the name as given.
	Name string
}

func (e *UnknownHashError) Error() string {
	return fmt.Sprintf("unsupported hash %q (supported: sha-512, sha-384, sha-256, sha-224, sha-1, md5)", e.Name)
}

// constructor returns the constructor for a canonical name, or nil.
func constructor(name string) func() hash.Hash {
	switch name {
	case "sha-512":
		return sha512.New
	case "sha-384":
		return sha512.New384
	case "sha-256":
		// One stream runs as fast as crypto/sha256 (both on SHA-NI, see doc.go);
		// ours also pairs with another in Write2.
		if hasSHANI {
			return newSHA256NI
		}
		return sha256.New
	case "sha-224":
		return sha256.New224
	case "sha-1":
		return sha1.New
	case "md5":
		return md5.New
	}
	return nil
}

// New returns a fresh hasher for a canonical hash name ("sha-256"). An unknown
// name yields an *UnknownHashError naming it.
func New(name string) (hash.Hash, error) {
	c := constructor(name)
	if c == nil {
		return nil, &UnknownHashError{Name: name}
	}
	return c(), nil
}

// Size returns the digest length in bytes of a canonical hash name.
func Size(name string) (int, error) {
	h, err := Get(name)
	if err != nil {
		return 0, err
	}
	defer Put(name, h)
	return h.Size(), nil
}

// pools holds one sync.Pool of hashers per canonical name; filled lazily.
var pools sync.Map // string -> *sync.Pool

// Get returns a reset hasher for name from a pool; give it back with Put.
func Get(name string) (hash.Hash, error) {
	if p, ok := pools.Load(name); ok {
		h := p.(*sync.Pool).Get().(hash.Hash)
		h.Reset()
		return h, nil
	}
	c := constructor(name)
	if c == nil {
		return nil, &UnknownHashError{Name: name}
	}
	p, _ := pools.LoadOrStore(name, &sync.Pool{New: func() any { return c() }})
	h := p.(*sync.Pool).Get().(hash.Hash)
	h.Reset()
	return h, nil
}

// Put returns a hasher obtained from Get (or New) for name to its pool.
// The caller must not use h afterwards.
func Put(name string, h hash.Hash) {
	if h == nil {
		return
	}
	if p, ok := pools.Load(name); ok {
		p.(*sync.Pool).Put(h)
	}
}

// BufferSize is the length of the buffers GetBuffer hands out (1 MiB).
const BufferSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// GetBuffer returns a BufferSize-byte buffer from a pool; give it back with PutBuffer.
func GetBuffer() *[]byte {
	b := bufPool.Get().(*[]byte)
	*b = (*b)[:BufferSize]
	return b
}

// PutBuffer returns a buffer obtained from GetBuffer.
func PutBuffer(b *[]byte) {
	if b != nil && cap(*b) >= BufferSize {
		bufPool.Put(b)
	}
}

// Bytes returns the digest of data under the canonical hash name, using a pooled hasher.
// The fetcher and verifier use it for one piece held in memory.
func Bytes(name string, data []byte) ([]byte, error) {
	h, err := Get(name)
	if err != nil {
		return nil, err
	}
	h.Write(data)
	sum := h.Sum(nil)
	Put(name, h)
	return sum, nil
}

// Reader hashes everything r yields under the canonical hash name and returns the
// digest and the number of bytes read. Errors from r are returned with the count so far.
func Reader(name string, r io.Reader) ([]byte, int64, error) {
	h, err := Get(name)
	if err != nil {
		return nil, 0, err
	}
	defer Put(name, h)
	buf := GetBuffer()
	defer PutBuffer(buf)
	n, err := io.CopyBuffer(onlyWriter{h}, onlyReader{r}, *buf)
	if err != nil {
		return nil, n, err
	}
	return h.Sum(nil), n, nil
}

// Hex returns the lowercase hex digest of data under the canonical hash name.
func Hex(name string, data []byte) (string, error) {
	s, err := Bytes(name, data)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(s), nil
}

// onlyWriter and onlyReader hide ReadFrom/WriteTo so that io.CopyBuffer uses our pooled buffer.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }
