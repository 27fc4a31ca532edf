package fetch

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mlinkdev/mlink/internal/mirrortest"
)

// TestMirrorAdvertisingAnotherDigest: a mirror whose Repr-Digest (or Digest) names
// another sha-256 than the metalink serves another version of the file (RFC 6249
// section 7): it is dropped on its first response without a body byte counted, and
// the file comes from the others. A mirror advertising the right digest is used.
func TestMirrorAdvertisingAnotherDigest(t *testing.T) {
	data, f := testFile(t, "f.bin", tSize, tPlen, 11)
	sum := sha256.Sum256(data)
	wrong := sha256.Sum256([]byte("another version"))
	for _, header := range []string{"Repr-Digest", "Digest"} {
		t.Run(header, func(t *testing.T) {
			enc := func(b [32]byte) string {
				if header == "Digest" {
					return "SHA-256=" + base64.StdEncoding.EncodeToString(b[:])
				}
				return "sha-256=:" + base64.StdEncoding.EncodeToString(b[:]) + ":"
			}
			good := mirrortest.Start(t, data, mirrortest.Header(header, enc(sum)))
			stale := mirrortest.Start(t, data, mirrortest.Header(header, enc(wrong)))
			dir := t.TempDir()
			rep, err := runGet(t, f, fastOpts(dir), stale.URL(), good.URL())
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			assertFile(t, dir, "f.bin", data)
			rs := mirrorReport(t, rep, stale.URL())
			if rs.State != MirrorDropped || rs.Bytes != 0 || !strings.Contains(rs.LastError, ErrStale.Error()) {
				t.Errorf("stale mirror: state %q, %d bytes, last error %q; want dropped, 0 bytes, %q", rs.State, rs.Bytes, rs.LastError, ErrStale)
			}
			if rg := mirrorReport(t, rep, good.URL()); rg.Bytes < int64(len(data)) {
				t.Errorf("good mirror served %d bytes, want the whole %d", rg.Bytes, len(data))
			}
		})
	}
	t.Run("only a stale mirror", func(t *testing.T) {
		stale := mirrortest.Start(t, data, mirrortest.Header("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(wrong[:])+":"))
		dir := t.TempDir()
		_, err := runGet(t, f, fastOpts(dir), stale.URL())
		if !errors.Is(err, ErrNoSource) {
			t.Fatalf("Get from a stale mirror only: %v, want ErrNoSource", err)
		}
	})
}
