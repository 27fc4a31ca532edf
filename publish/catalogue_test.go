package publish

// SECURITY.md catalogue cases of the serving handler and the upload server not fully
// covered elsewhere (docs/CATALOGUE.md maps every case to its tests).

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Case 69 with the default options: the overlapping "bytes=0-,1-,2-,..." set and 300
// disjoint one-byte ranges (over Apache's ~200) both get 200 with the whole file, never a
// multipart answer bigger than the file; PUT is refused whatever its Range.
func TestCatalogueServerRangeAbuse(t *testing.T) { // case 69
	const size = 100_000
	data := svContent(size)
	dir := svTree(t, map[string][]byte{"f.bin": data})
	_, ts := svStart(t, dir, HandlerOptions{})
	var overlap, many strings.Builder
	overlap.WriteString("bytes=")
	many.WriteString("bytes=")
	for i := range 300 {
		if i > 0 {
			overlap.WriteByte(',')
			many.WriteByte(',')
		}
		fmt.Fprintf(&overlap, "%d-", i)
		fmt.Fprintf(&many, "%d-%d", i*300, i*300)
	}
	for name, rng := range map[string]string{"overlapping": overlap.String(), "300 ranges": many.String()} {
		resp, body := svDo(t, ts, "GET", "/f.bin", "Range", rng)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("%s: status %d, want 200 (or 416)", name, resp.StatusCode)
		}
		if len(body) > size {
			t.Errorf("%s: %d bytes sent for a %d-byte file", name, len(body), size)
		}
	}
	resp, _ := svDo(t, ts, "PUT", "/f.bin", "Range", "bytes=0-4")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT with Range: status %d, want 405", resp.StatusCode)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.bin")); string(got) != string(data) {
		t.Error("served file changed")
	}
}

// Case 84: chunks that claim more than the declared total, or whose body is longer than
// their Content-Range, or a malformed or negative Content-Range, are refused with 4xx;
// nothing is staged or published, and the next good chunk still starts at 0.
func TestCatalogueUploadLengthLies(t *testing.T) { // case 84
	_, srv, dir := uploadTestServer(t, "", UploadOptions{})
	data := uploadRandom(100)
	for _, tc := range []struct {
		name string
		crng string
		body []byte
	}{
		{"last byte past the total", "bytes 0-149/100", make([]byte, 150)},
		{"first > last", "bytes 50-10/100", make([]byte, 10)},
		{"body longer than the range", "bytes 0-9/100", make([]byte, 20)},
		{"negative start", "bytes -5-9/100", make([]byte, 15)},
		{"negative total", "bytes 0-9/-100", make([]byte, 10)},
		{"huge total", "bytes 0-9/99999999999999999999", make([]byte, 10)},
		{"not bytes", "items 0-9/100", make([]byte, 10)},
	} {
		r := uploadDo(t, srv, "PUT", "/l.bin", uploadTestToken, map[string]string{"Content-Range": tc.crng}, tc.body)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%s (%q): status %d %q, want a 4xx refusal", tc.name, tc.crng, r.status, r.body)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "l.bin")); !os.IsNotExist(err) {
		t.Fatal("a refused upload was published")
	}
	if n := uploadStagedSize(t, dir); n > 0 {
		t.Errorf("refused chunks staged %d bytes", n)
	}
	uploadWant(t, "good chunk after the lies", uploadDo(t, srv, "PUT", "/l.bin", uploadTestToken,
		map[string]string{"Content-Range": uploadRange(0, 99, 100), "Repr-Digest": uploadDigestOf(data)}, data), http.StatusCreated, "")
}
