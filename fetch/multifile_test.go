package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// concurrency counts requests in flight, per key and in total, and remembers the peaks.
type concurrency struct {
	mu        sync.Mutex
	cur, peak map[string]int
	total     int
	peakTotal int
}

func newConcurrency() *concurrency {
	return &concurrency{cur: map[string]int{}, peak: map[string]int{}}
}

func (c *concurrency) enter(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur[key]++
	c.peak[key] = max(c.peak[key], c.cur[key])
	c.total++
	c.peakTotal = max(c.peakTotal, c.total)
}

// snapshot returns the peaks (servers may still run abandoned handlers).
func (c *concurrency) snapshot() (total int, perKey map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	perKey = map[string]int{}
	for k, v := range c.peak {
		perKey[k] = v
	}
	return c.peakTotal, perKey
}

func (c *concurrency) leave(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur[key]--
	c.total--
}

// countingTransport counts a request from RoundTrip until its body is closed (what
// the client holds); the mirrors count from the handler's start until it returns or
// the connection goes (what the server sees).
type countingTransport struct {
	rt http.RoundTripper
	c  *concurrency
}

type countedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.URL.Host
	t.c.enter(key)
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		t.c.leave(key)
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, done: func() { t.c.leave(key) }}
	return resp, nil
}

func serverCounter(c *concurrency, key *string) mirrortest.Option {
	return mirrortest.Wrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := *key
			c.enter(k)
			var once sync.Once
			leave := func() { once.Do(func() { c.leave(k) }) }
			stop := context.AfterFunc(r.Context(), leave) // the client hung up
			defer stop()
			defer leave()
			h.ServeHTTP(w, r)
		})
	})
}

// multiFiles builds n files of base..base+7 pieces, served by every mirror at /fK.bin.
func multiFiles(t *testing.T, n, base int) ([][]byte, []metalink.File, []mirrortest.Option) {
	var datas [][]byte
	var files []metalink.File
	var opts []mirrortest.Option
	for k := range n {
		size := int64(base+k%8)*tPlen - int64(k*37)
		data, f := testFile(t, fmt.Sprintf("f%02d.bin", k), size, tPlen, uint64(100+k))
		datas = append(datas, data)
		files = append(files, f)
		opts = append(opts, mirrortest.File(fmt.Sprintf("/f%02d.bin", k), data))
	}
	return datas, files, opts
}

// Issue 6: the files of a multi-file metalink download at once under one budget:
// Connections caps the requests in flight across all files and PerMirror those to
// one mirror host across files (measured on both sides), one misbehaving mirror
// does not stop anything, and the report keeps the metalink order.
func TestMultiFileConcurrentBudget(t *testing.T) {
	const files, conns, perMirror = 14, 3, 2
	datas, fs, fileOpts := multiFiles(t, files, 2)
	server := newConcurrency()
	var mirrors []*mirrortest.Mirror
	keys := make([]string, 3)
	for i := range 3 {
		opts := append([]mirrortest.Option{serverCounter(server, &keys[i]), mirrortest.Latency(2 * time.Millisecond)}, fileOpts...)
		if i == 0 { // the preferred mirror misbehaves
			opts = append(opts, mirrortest.DropAfter(tPlen+100)) // cuts every response after one piece
		}
		m := mirrortest.Start(t, nil, opts...)
		keys[i] = m.Addr()
		mirrors = append(mirrors, m)
	}
	ml := &metalink.Metalink{}
	for k := range fs {
		// One connection per mirror and file (metalink maxconnections): only the
		// per-host budget keeps several files from piling up on one mirror.
		fs[k].MaxConnections = 1
		for i, m := range mirrors {
			fs[k].URLs = append(fs[k].URLs, metalink.URL{URL: m.FileURL(fmt.Sprintf("/f%02d.bin", k)), Priority: i + 1})
		}
		ml.Files = append(ml.Files, fs[k])
	}
	client := newConcurrency()
	hc := NewClient(time.Second, conns)
	hc.Transport = &countingTransport{rt: hc.Transport, c: client}
	t.Cleanup(hc.CloseIdleConnections)
	dir := t.TempDir()
	o := fastOpts(dir)
	o.Client, o.Connections, o.PerMirror = hc, conns, perMirror

	peak := peakFiles(&o)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Get(ctx, ml, o)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(rep.Files) != files {
		t.Fatalf("%d file reports, want %d", len(rep.Files), files)
	}
	for k, fr := range rep.Files {
		if fr.Name != fs[k].Name || fr.State != "done" {
			t.Errorf("report %d: %s %s, want %s done (metalink order)", k, fr.Name, fr.State, fs[k].Name)
		}
		assertFile(t, dir, fs[k].Name, datas[k])
	}
	clientTotal, clientPeak := client.snapshot()
	serverTotal, serverPeak := server.snapshot()
	t.Logf("files in flight at most %d; requests in flight: client %d (per host %v), server %d (per host %v)",
		peak(), clientTotal, clientPeak, serverTotal, serverPeak)
	if peak() < 2 {
		t.Errorf("at most %d file downloading at a time, want several", peak())
	}
	// The client holds a request token until the response body is closed: exact.
	// A server may still be writing a response the client abandoned (a lost race, a
	// piece delivered by another mirror) until it notices the closed connection, so
	// the mirrors may see one request more for a moment.
	for slack, c := range []struct {
		total int
		peak  map[string]int
	}{{clientTotal, clientPeak}, {serverTotal, serverPeak}} {
		if c.total > conns+slack {
			t.Errorf("%d requests in flight at once, Connections is %d", c.total, conns)
		}
		for k, p := range c.peak {
			if p > perMirror+slack {
				t.Errorf("%d requests in flight to %s at once, PerMirror is %d", p, k, perMirror)
			}
		}
	}
	if clientTotal < 2 {
		t.Errorf("never more than %d request at once", clientTotal)
	}
}

// One file failing (no good source) does not stop the others; the error names it and
// wraps ErrNoSource, and its report is in its place.
func TestMultiFileOneFails(t *testing.T) {
	datas, fs, fileOpts := multiFiles(t, 4, 2)
	m := mirrortest.Start(t, nil, fileOpts...)
	ml := &metalink.Metalink{}
	for k := range fs {
		u := m.FileURL(fmt.Sprintf("/f%02d.bin", k))
		if k == 1 {
			u = m.FileURL("/missing.bin")
		}
		fs[k].URLs = []metalink.URL{{URL: u}}
		ml.Files = append(ml.Files, fs[k])
	}
	dir := t.TempDir()
	rep, err := Get(context.Background(), ml, fastOpts(dir))
	if !errorsIs(err, ErrNoSource) {
		t.Fatalf("Get: %v, want ErrNoSource for the file without a source", err)
	}
	for k, fr := range rep.Files {
		if k == 1 {
			if fr.State != "failed" || fr.Name != "f01.bin" {
				t.Errorf("report 1: %+v, want f01.bin failed", fr)
			}
			continue
		}
		if fr.State != "done" {
			t.Errorf("report %d: %s %s (%s)", k, fr.Name, fr.State, fr.Error)
		}
		assertFile(t, dir, fs[k].Name, datas[k])
	}
}

// LimitRate is one limiter for all files, MirrorLimitRate one per mirror host across
// files: the bytes received never exceed what the limiters allow for the elapsed time
// (a slow machine only makes the bound looser). Limiters are charged after each read
// of at most one chunk, so the bound is rate × time + burst + one chunk per request in
// flight (at most 2 here: one per mirror host). With a limiter per file, the files in
// flight would receive twice as much.
func TestMultiFileSharedRateLimit(t *testing.T) {
	_, fs, fileOpts := multiFiles(t, 6, 14)
	m1 := mirrortest.Start(t, nil, fileOpts...)
	m2 := mirrortest.Start(t, nil, fileOpts...)
	ml := &metalink.Metalink{}
	var size int64
	for k := range fs {
		for _, m := range []*mirrortest.Mirror{m1, m2} {
			fs[k].URLs = append(fs[k].URLs, metalink.URL{URL: m.FileURL(fmt.Sprintf("/f%02d.bin", k))})
		}
		ml.Files = append(ml.Files, fs[k])
		size += fs[k].Size
	}
	for _, o := range []Options{{LimitRate: 1 << 20}, {MirrorLimitRate: 512 << 10}} {
		o.Dir = t.TempDir()
		o.Connections, o.PerMirror = 4, 1
		o.LowSpeedTime, o.ProgressInterval = 2*time.Second, 50*time.Millisecond
		g := newGetter(o)
		var rate, slack float64
		if g.lim != nil {
			rate = float64(o.LimitRate)
			slack = float64(g.lim.Burst() + 2*g.chunk(&mirror{}))
		} else {
			l := newLimiter(o.MirrorLimitRate)
			rate = 2 * float64(o.MirrorLimitRate)
			slack = 2 * float64(l.Burst()+g.chunk(&mirror{lim: l}))
		}
		peak := peakFiles(&o)
		start := time.Now()
		rep, err := Get(context.Background(), ml, o)
		el := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		allowed := int64(rate*el.Seconds() + slack)
		t.Logf("limits %d/%d: %d bytes in %v (allowed %d), %d files at once", o.LimitRate, o.MirrorLimitRate, rep.Bytes, el, allowed, peak())
		if rep.Bytes < size {
			t.Errorf("received %d bytes for %d", rep.Bytes, size)
		}
		if rep.Bytes > allowed {
			t.Errorf("received %d bytes in %v, the limit allows %d", rep.Bytes, el, allowed)
		}
		if peak() < 2 {
			t.Errorf("at most %d file at a time; the test needs several in flight", peak())
		}
	}
}

// peakFiles sets o.OnEvent to count the files downloading at once; the returned
// function gives the peak so far.
func peakFiles(o *Options) func() int {
	var mu sync.Mutex
	inFlight, peak := map[string]bool{}, 0
	o.OnEvent = func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case EventFileStart:
			inFlight[e.File] = true
			peak = max(peak, len(inFlight))
		case EventFileDone, EventFileFailed:
			delete(inFlight, e.File)
		}
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// MaxFiles 1 downloads the files one after another; an interrupted Get reports the
// files it did not start with the context's error.
func TestMultiFileSequentialAndCancelled(t *testing.T) {
	datas, fs, fileOpts := multiFiles(t, 4, 2)
	m := mirrortest.Start(t, nil, fileOpts...)
	ml := &metalink.Metalink{}
	for k := range fs {
		fs[k].URLs = []metalink.URL{{URL: m.FileURL(fmt.Sprintf("/f%02d.bin", k))}}
		ml.Files = append(ml.Files, fs[k])
	}
	o := fastOpts(t.TempDir())
	o.MaxFiles = 1
	peak := peakFiles(&o)
	if _, err := Get(context.Background(), ml, o); err != nil {
		t.Fatal(err)
	}
	for k := range fs {
		assertFile(t, o.Dir, fs[k].Name, datas[k])
	}
	if peak() != 1 {
		t.Errorf("MaxFiles 1: %d files at once", peak())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	rep, err := Get(ctx, ml, fastOpts(dir))
	if !errors.Is(err, context.Canceled) || len(rep.Files) != 0 {
		t.Errorf("cancelled Get: %v, %d file reports; want context.Canceled and none started", err, len(rep.Files))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("cancelled Get left %v", entries)
	}
}
