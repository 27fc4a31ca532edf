package fetch

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mlinkdev/mlink/metalink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testFile returns size random bytes and a metalink file entry for them with
// sha-256 piece hashes of plen and a whole-file sha-256.
func testFile(t testing.TB, name string, size, plen int64, seed uint64) ([]byte, metalink.File) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(data)
	f := metalink.File{Name: name, Size: size, Hashes: []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}}}
	if plen > 0 {
		p := metalink.Pieces{Length: plen, Type: "sha-256"}
		for off := int64(0); off < size; off += plen {
			s := sha256.Sum256(data[off:min(off+plen, size)])
			p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
		}
		f.Pieces = []metalink.Pieces{p}
	}
	return data, f
}

func plainMirror(t *testing.T, data []byte) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestGetPlain(t *testing.T) {
	data, f := testFile(t, "a.bin", 1<<20+123, 32<<10, 1)
	for i := 0; i < 3; i++ {
		f.URLs = append(f.URLs, metalink.URL{URL: plainMirror(t, data).URL + "/a.bin"})
	}
	dir := t.TempDir()
	rep, err := Get(context.Background(), &metalink.Metalink{Files: []metalink.File{f}}, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "a.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs (err %v)", err)
	}
	t.Logf("%+v", rep.Files[0])
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}
