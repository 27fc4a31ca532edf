package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// interruptAfter runs Get until n pieces are done, then cancels it; the run must end
// with context.Canceled and leave the part file and its journal.
func interruptAfter(t *testing.T, ml *metalink.Metalink, o Options, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := 0
	o.OnEvent = func(e Event) {
		if e.Kind == EventPieceDone {
			if done++; done == n {
				cancel()
			}
		}
	}
	if _, err := Get(ctx, ml, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want context.Canceled", err)
	}
	name := ml.Files[0].Name
	for _, n := range []string{name + ".part", name + ".part.mlj"} {
		if _, err := os.Stat(filepath.Join(o.Dir, n)); err != nil {
			t.Fatalf("after the interruption: %v", err)
		}
	}
}

// ifRanges returns the If-Range header of every ranged request m recorded from index from on.
func ifRanges(m *mirrortest.Mirror, from int) []string {
	var out []string
	for _, r := range m.Requests()[from:] {
		if r.Range != "" {
			out = append(out, r.Header.Get("If-Range"))
		}
	}
	return out
}

func etagOf(t *testing.T, m *mirrortest.Mirror) string {
	t.Helper()
	resp, err := http.Head(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	et := resp.Header.Get("ETag")
	if et == "" {
		t.Fatal("mirror sends no ETag")
	}
	return et
}

// Issue 7 item 1: each mirror's ETag from its first 206 is sent as If-Range on every
// later request, kept in the journal across an interruption; a mirror whose file
// changed meanwhile answers 200, is dropped as "changed" without a byte of its body
// read, and the file completes from the other mirror.
func TestIfRangeMirrorChangedOnResume(t *testing.T) {
	data, f := testFile(t, "f.bin", 512<<10, tPlen, 70)
	a := mirrortest.Start(t, data, mirrortest.Throttle(256<<10))
	b := mirrortest.Start(t, data, mirrortest.Throttle(256<<10))
	etag := etagOf(t, b)
	f.URLs = []metalink.URL{{URL: a.URL(), Priority: 1}, {URL: b.URL(), Priority: 2}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	// One connection per mirror and one piece per request in the first run, so that
	// each mirror gets several requests in turn.
	o := fastOpts(dir)
	o.PerMirror, o.RequestSeconds = 1, 0.001
	interruptAfter(t, ml, o, 8)

	// In the first run already: the first request of a mirror has no If-Range (nothing
	// known yet), the later ones carry its ETag.
	for _, m := range []*mirrortest.Mirror{a, b} {
		irs := ifRanges(m, 0)
		if len(irs) < 2 {
			t.Fatalf("first run: %d ranged requests to %s, want several", len(irs), m.URL())
		}
		if irs[0] != "" {
			t.Errorf("first run, first request to %s: If-Range %q before anything was known", m.URL(), irs[0])
		}
		for _, ir := range irs[1:] {
			if ir != etag {
				t.Errorf("first run, later request to %s: If-Range %q, want %q (all: %q)", m.URL(), ir, etag, irs)
			}
		}
	}

	// B's file changes in place (new content, new ETag).
	changed := bytes.Clone(data)
	for i := range changed {
		changed[i] ^= 0x5a
	}
	b.SetContent(changed, `"v2"`, time.Now().Add(-time.Minute))
	fromA, fromB := len(a.Requests()), len(b.Requests())
	servedB := b.BytesServed()

	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	assertFile(t, dir, "f.bin", data)
	if got := sha256.Sum256(data); rep.Files[0].Hash != "sha-256:"+hexString(got[:]) {
		t.Errorf("report hash %q", rep.Files[0].Hash)
	}
	rb := mirrorReport(t, rep, b.URL())
	if rb.State != MirrorChanged || !strings.Contains(rb.LastError, "changed") || !strings.Contains(rb.LastError, etag) {
		t.Errorf("changed mirror: %+v; want state changed, the old ETag named in LastError", rb)
	}
	if rb.Bytes != 0 || rb.Good != 0 {
		t.Errorf("read %d bytes (%d good) from the changed mirror, want none", rb.Bytes, rb.Good)
	}
	// What the server wrote into the sockets before we hung up: about one throttle
	// write (25.6 KiB) per request, counting the request the first run cancelled.
	after, n2 := b.BytesServed()-servedB, int64(len(b.Requests())-fromB)
	t.Logf("changed mirror: %d requests, %d bytes written by the server after the change, 0 read", n2, after)
	if after > (n2+1)*32<<10 {
		t.Errorf("changed mirror served %d bytes after the change in %d requests", after, n2)
	}
	for _, c := range []struct {
		m    *mirrortest.Mirror
		from int
	}{{a, fromA}, {b, fromB}} {
		irs := ifRanges(c.m, c.from)
		if len(irs) == 0 {
			t.Fatalf("resume: no ranged request to %s", c.m.URL())
		}
		for _, ir := range irs {
			if ir != etag {
				t.Errorf("resume: request to %s with If-Range %q, want the remembered %q", c.m.URL(), ir, etag)
			}
		}
	}
	if ra := mirrorReport(t, rep, a.URL()); ra.State == MirrorChanged || ra.Good == 0 {
		t.Errorf("unchanged mirror: %+v", ra)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// A server that ignores If-Range answers a range of its new file with 206 and the new
// ETag: the mirror is dropped as changed before its body is read.
func TestIfRangeIgnoredETagDiffers(t *testing.T) {
	data, f := testFile(t, "f.bin", 256<<10, tPlen, 71)
	var mu sync.Mutex
	ignoring := false
	strip := mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if ignoring {
				r.Header.Del("If-Range")
			}
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	})
	a := mirrortest.Start(t, data, mirrortest.Throttle(128<<10))
	b := mirrortest.Start(t, data, strip, mirrortest.Throttle(128<<10))
	f.URLs = []metalink.URL{{URL: a.URL(), Priority: 1}, {URL: b.URL(), Priority: 2}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	interruptAfter(t, ml, fastOpts(dir), 4)

	changed := bytes.Clone(data)
	changed[0] ^= 1
	b.SetContent(changed, `"v2"`, time.Time{})
	mu.Lock()
	ignoring = true
	mu.Unlock()
	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	assertFile(t, dir, "f.bin", data)
	rb := mirrorReport(t, rep, b.URL())
	if rb.State != MirrorChanged || !strings.Contains(rb.LastError, `"v2"`) || rb.Bytes != 0 {
		t.Errorf("mirror ignoring If-Range: %+v; want changed, naming the new ETag, nothing read", rb)
	}
}

// recordHandler keeps the slog records of a test.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) has(sub string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// A plain download (no hash at all, one source): the validators are the only guard.
// When the source's file changed between two runs, every chunk the journal claims is
// discarded and the download restarts from zero: the result is the new file, whole,
// never a splice of both versions.
func TestIfRangePlainSourceChangedRestarts(t *testing.T) {
	data, f := testFile(t, "plain.bin", 512<<10, 0, 72)
	f.Hashes = nil
	m := mirrortest.Start(t, data, mirrortest.Throttle(256<<10))
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	o := fastOpts(dir)
	o.InsecureNoHash = true
	interruptAfter(t, ml, o, 6)

	changed := bytes.Clone(data)
	for i := range changed {
		changed[i] ^= 0xa5
	}
	m.SetContent(changed, `"v2"`, time.Now().Add(-time.Minute))
	served := m.BytesServed()
	logs := &recordHandler{}
	o = fastOpts(dir)
	o.InsecureNoHash = true
	o.Logger = slog.New(logs)
	var warned bool
	o.OnEvent = func(e Event) {
		if e.Kind == EventWarning && strings.Contains(e.Message, "restarting from zero") {
			warned = true
		}
	}
	rep, err := Get(context.Background(), ml, o)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	assertFile(t, dir, "plain.bin", changed)
	fr := rep.Files[0]
	if fr.Restarted != 1 || fr.Resumed != 0 {
		t.Errorf("report: restarted %d, resumed %d; want 1 restart and nothing resumed", fr.Restarted, fr.Resumed)
	}
	if !warned || !logs.has("restarting from zero") {
		t.Errorf("no warning event (%v) or log record (%q) about the restart", warned, logs.msgs)
	}
	// The whole file came again from the (changed) source.
	if got := m.BytesServed() - served; got < int64(len(data)) {
		t.Errorf("second run fetched %d bytes, want the whole %d", got, len(data))
	}
}

// The same plain download resumes normally when the source did not change: only the
// missing chunks are fetched, each request carrying the remembered ETag.
func TestIfRangePlainSourceUnchangedResumes(t *testing.T) {
	data, f := testFile(t, "plain.bin", 512<<10, 0, 73)
	f.Hashes = nil
	m := mirrortest.Start(t, data, mirrortest.Throttle(256<<10))
	etag := etagOf(t, m)
	f.URLs = []metalink.URL{{URL: m.URL()}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	o := fastOpts(dir)
	o.InsecureNoHash = true
	interruptAfter(t, ml, o, 6)
	from := len(m.Requests())
	rep, err := Get(context.Background(), ml, o)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	assertFile(t, dir, "plain.bin", data)
	if fr := rep.Files[0]; fr.Restarted != 0 || fr.Resumed < 6 {
		t.Errorf("report: restarted %d, resumed %d; want no restart and the 6 chunks resumed", fr.Restarted, fr.Resumed)
	}
	for _, ir := range ifRanges(m, from) {
		if ir != etag {
			t.Errorf("resume request with If-Range %q, want %q", ir, etag)
		}
	}
}

// Only strong validators may go into If-Range (RFC 9110 13.1.5): a weak ETag never, a
// Last-Modified only when at least a second older than the response's Date.
func TestStrongValidator(t *testing.T) {
	date := "Thu, 26 Nov 2026 02:00:00 GMT"
	for _, c := range []struct {
		etag, lm, date string
		want           journalValidator
	}{
		{`"abc"`, "", date, journalValidator{ETag: `"abc"`}},
		{`W/"abc"`, "", date, journalValidator{}},
		{`abc`, "", date, journalValidator{}}, // unquoted: malformed
		{"", "Thu, 26 Nov 2026 01:59:59 GMT", date, journalValidator{LastModified: "Thu, 26 Nov 2026 01:59:59 GMT"}},
		{"", date, date, journalValidator{}}, // same second: weak
		{"", "Thu, 26 Nov 2026 01:59:59 GMT", "", journalValidator{}},
		{`W/"x"`, "Wed, 25 Nov 2026 00:00:00 GMT", date, journalValidator{LastModified: "Wed, 25 Nov 2026 00:00:00 GMT"}},
	} {
		h := http.Header{}
		for k, v := range map[string]string{"ETag": c.etag, "Last-Modified": c.lm, "Date": c.date} {
			if v != "" {
				h.Set(k, v)
			}
		}
		if got := strongValidator(h); got != c.want {
			t.Errorf("ETag %q Last-Modified %q Date %q: %+v, want %+v", c.etag, c.lm, c.date, got, c.want)
		}
	}
	if got := (journalValidator{ETag: `"e"`, LastModified: date}).ifRange(); got != `"e"` {
		t.Errorf("If-Range prefers the ETag: got %q", got)
	}
}

// Without an ETag the Last-Modified date (strong: older than the response's Date by
// more than a second) is the validator: sent as If-Range, and a mirror whose file got
// a new date answers 200 and is dropped as changed.
func TestIfRangeLastModified(t *testing.T) {
	data, f := testFile(t, "f.bin", 256<<10, tPlen, 74)
	a := mirrortest.Start(t, data, mirrortest.ETag(""), mirrortest.Throttle(128<<10))
	b := mirrortest.Start(t, data, mirrortest.ETag(""), mirrortest.Throttle(128<<10))
	f.URLs = []metalink.URL{{URL: a.URL(), Priority: 1}, {URL: b.URL(), Priority: 2}}
	ml := &metalink.Metalink{Files: []metalink.File{f}}
	dir := t.TempDir()
	interruptAfter(t, ml, fastOpts(dir), 4)
	resp, err := http.Head(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lm := resp.Header.Get("Last-Modified")

	changed := bytes.Clone(data)
	changed[len(changed)-1] ^= 1
	b.SetContent(changed, "", time.Now().Add(-time.Hour))
	fromB := len(b.Requests())
	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	assertFile(t, dir, "f.bin", data)
	if rb := mirrorReport(t, rep, b.URL()); rb.State != MirrorChanged || rb.Bytes != 0 || !strings.Contains(rb.LastError, lm) {
		t.Errorf("changed mirror: %+v; want changed, nothing read, %q named", rb, lm)
	}
	for _, ir := range ifRanges(b, fromB) {
		if ir != lm {
			t.Errorf("If-Range %q, want the Last-Modified %q", ir, lm)
		}
	}
}

// A mirror whose ETag changed but not its bytes (load-balanced backends, a copy that
// did not keep mtimes) answers If-Range with 200 and is dropped as changed; when it is
// the only source left of a file with piece hashes it is used again without If-Range,
// its pieces verified one by one, and the resume completes instead of failing with no
// source. When its bytes really changed, its pieces fail their hashes, it is
// quarantined and the download fails without a final file.
func TestIfRangeChangedOnlyMirrorRevived(t *testing.T) {
	for _, realChange := range []bool{false, true} {
		name := "same bytes, new ETag"
		if realChange {
			name = "new bytes"
		}
		t.Run(name, func(t *testing.T) {
			data, f := testFile(t, "f.bin", 512<<10, tPlen, 71)
			m := mirrortest.Start(t, data, mirrortest.Throttle(512<<10))
			f.URLs = []metalink.URL{{URL: m.URL(), Priority: 1}}
			ml := &metalink.Metalink{Files: []metalink.File{f}}
			dir := t.TempDir()
			o := fastOpts(dir)
			o.PerMirror, o.RequestSeconds = 1, 0.001
			interruptAfter(t, ml, o, 6)
			content := data
			if realChange {
				content = bytes.Clone(data)
				for i := range content {
					content[i] ^= 0x33
				}
			}
			m.SetContent(content, `"v2"`, time.Now().Add(-time.Minute))
			rep, err := Get(context.Background(), ml, fastOpts(dir))
			if realChange {
				if !errors.Is(err, ErrNoSource) {
					t.Fatalf("resume from a really changed only mirror: %v, want ErrNoSource", err)
				}
				if _, serr := os.Stat(filepath.Join(dir, "f.bin")); serr == nil {
					t.Fatal("a final file exists after the failure")
				}
				if r := mirrorReport(t, rep, m.URL()); r.State != MirrorQuarantined {
					t.Errorf("really changed mirror ended %q, want quarantined (%+v)", r.State, r)
				}
				return
			}
			if err != nil {
				t.Fatalf("resume from an only mirror whose ETag changed: %v", err)
			}
			assertFile(t, dir, "f.bin", data)
			if r := mirrorReport(t, rep, m.URL()); r.Good == 0 || !strings.Contains(r.LastError, "changed") {
				t.Errorf("revived mirror: %+v; want good bytes, and the change in LastError", r)
			}
		})
	}
}
