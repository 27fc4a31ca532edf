package fetch

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

// FuzzRepairMultipart feeds hostile multipart/byteranges answers to Repair. Whatever
// the body, Repair must not panic, must leave every piece that was good before
// unchanged (only verified bytes are ever written), and may report success only for a
// file that verifies.
func FuzzRepairMultipart(f *testing.F) {
	const plen = 1 << 10
	data, mf := testFile(f, "r.bin", 8*plen, plen, 77)
	part := func(first, last int) string {
		return fmt.Sprintf("--B\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes %d-%d/%d\r\n\r\n%s\r\n", first, last, len(data), data[first:last+1])
	}
	good := part(2*plen, 3*plen-1) + part(5*plen, 6*plen-1) + "--B--\r\n"
	f.Add([]byte(good))
	f.Add([]byte(part(2*plen, 3*plen-1) + "--B--\r\n"))
	f.Add([]byte(part(5*plen, 6*plen-1) + part(2*plen, 3*plen-1) + "--B--\r\n"))
	f.Add([]byte(part(2*plen, 6*plen-1) + "--B--\r\n"))
	f.Add([]byte("--B\r\nContent-Range: bytes 0-9/99\r\n\r\n0123456789\r\n--B--\r\n"))
	f.Add([]byte("preamble\r\n" + good + "epilogue"))
	f.Add([]byte(""))

	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/byteranges; boundary=B")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(*body.Load())
	}))
	f.Cleanup(srv.Close)
	mf.URLs = []metalink.URL{{URL: srv.URL + "/r.bin"}}

	f.Fuzz(func(t *testing.T, b []byte) {
		body.Store(&b)
		dir := t.TempDir()
		path := filepath.Join(dir, "r.bin")
		damaged := bytes.Clone(data)
		damaged[2*plen+5] ^= 0xff
		damaged[5*plen+7] ^= 0xff
		if err := os.WriteFile(path, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Repair(ctx, &mf, Options{Dir: dir, MaxRetries: 1, MaxRetryAfter: time.Millisecond, LowSpeedTime: time.Second})

		got, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		for p := range 8 {
			if p == 2 || p == 5 {
				continue
			}
			if !bytes.Equal(got[p*plen:(p+1)*plen], data[p*plen:(p+1)*plen]) {
				t.Fatalf("good piece %d changed", p)
			}
		}
		for _, p := range []int{2, 5} {
			if g := got[p*plen : (p+1)*plen]; !bytes.Equal(g, data[p*plen:(p+1)*plen]) && !bytes.Equal(g, damaged[p*plen:(p+1)*plen]) {
				t.Fatalf("bad piece %d is neither its old nor its right content", p)
			}
		}
		if err == nil {
			fh, _ := os.Open(path)
			defer fh.Close()
			res, verr := verify.File(context.Background(), fh, int64(len(got)), &mf, verify.Options{})
			if verr != nil || !res.Good {
				t.Fatalf("Repair reported success for a file that does not verify (%v)", verr)
			}
		}
	})
}
