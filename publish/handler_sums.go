package publish

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"golang.org/x/sync/singleflight"
)

// handlerSums remembers the hashes of the files a Handler served, keyed by
// name and checked against the file's size and modification time, and makes
// sure that a file nobody has hashed yet is hashed once however many requests
// ask for it at the same time (singleflight per file and version). Hashing
// runs detached from the requests that wait for it: a client that goes away
// stops waiting, the hashing completes for the others. Requests for other
// files are not blocked.
type handlerSums struct {
	src  SumSource
	root *os.Root
	sf   singleflight.Group

	mu      sync.Mutex
	entries map[string]*fileSums // guarded by mu
}

// fileSums is what the handler knows about one version of one file.
type fileSums struct {
	size    int64
	modTime time.Time
	file    *metalink.File
	raw     map[string][]byte // canonical hash name -> digest bytes
}

func newHandlerSums(src SumSource, root *os.Root) *handlerSums {
	return &handlerSums{src: src, root: root, entries: map[string]*fileSums{}}
}

// maxSumEntries bounds the in-memory table; beyond it the table is cleared
// (the persistent cache of the SumSource, if any, still answers quickly).
const maxSumEntries = 1 << 16

// known returns the sums of name if they are in memory and still match st.
func (s *handlerSums) known(name string, st fs.FileInfo) *fileSums {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[name]
	if e == nil || e.size != st.Size() || !e.modTime.Equal(st.ModTime()) {
		return nil
	}
	return e
}

// get returns the sums of name, whose current metadata is st, hashing it if
// needed. It returns early with ctx's error when ctx ends first.
func (s *handlerSums) get(ctx context.Context, name string, st fs.FileInfo) (*fileSums, error) {
	if e := s.known(name, st); e != nil {
		return e, nil
	}
	key := name + "\x00" + strconv.FormatInt(st.Size(), 10) + "\x00" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
	ch := s.sf.DoChan(key, func() (any, error) {
		// Detached from the first request: the others wait for this result.
		f, err := s.src.Sums(context.WithoutCancel(ctx), s.root, name)
		if err != nil {
			return nil, err
		}
		e, err := newFileSums(f, st)
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", name, err)
		}
		// Remember it only if the file did not change while it was hashed.
		if now, err := s.root.Stat(name); err == nil && now.Size() == st.Size() && now.ModTime().Equal(st.ModTime()) {
			s.mu.Lock()
			if len(s.entries) >= maxSumEntries {
				clear(s.entries)
			}
			s.entries[name] = e
			s.mu.Unlock()
		}
		return e, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*fileSums), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newFileSums(f *metalink.File, st fs.FileInfo) (*fileSums, error) {
	if f == nil {
		return nil, fmt.Errorf("no sums")
	}
	if f.Size != st.Size() {
		return nil, fmt.Errorf("file changed while it was hashed (%d bytes hashed, %d now)", f.Size, st.Size())
	}
	e := &fileSums{size: st.Size(), modTime: st.ModTime(), file: f, raw: map[string][]byte{}}
	for _, h := range f.Hashes {
		b, err := hex.DecodeString(h.Value)
		if err != nil || len(b)*2 != metalink.HashHexLen(h.Type) {
			return nil, fmt.Errorf("malformed %s value %q", h.Type, h.Value)
		}
		e.raw[h.Type] = b
	}
	if e.raw["sha-256"] == nil {
		return nil, fmt.Errorf("no sha-256 among the file's hashes")
	}
	return e, nil
}

// etag is the strong entity tag of the file: derived from its sha-256 alone,
// so every server holding the same bytes sends the same tag (the shared ETag
// policy of RFC 6249 section 2).
func (e *fileSums) etag() string {
	b := e.raw["sha-256"]
	if b == nil {
		return ""
	}
	return `"sha256-` + base64.RawURLEncoding.EncodeToString(b) + `"`
}

// sha256Hex is the file's sha-256 in hex ("" when unknown).
func (e *fileSums) sha256Hex() string {
	if e == nil || e.raw["sha-256"] == nil {
		return ""
	}
	return hex.EncodeToString(e.raw["sha-256"])
}
