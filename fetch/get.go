package fetch

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

// getter is the state shared by the files of one Get call: options, the request
// budget (global and per host), the overall rate limiter, buffers and the event lock.
type getter struct {
	o     Options
	lim   *rate.Limiter
	bytes atomic.Int64
	// bufs keeps piece buffers for reuse: a bounded free list rather than a
	// sync.Pool, which drops its buffers at every GC cycle, so that the download
	// allocates no new ones and its heap stays near the pieces in flight instead of
	// twice that (GOGC's headroom over freshly discarded megabyte buffers).
	bufs chan *[]byte
	evMu sync.Mutex

	// conns holds one token per request in flight, across all files (Connections);
	// connWait counts workers waiting for one; idle is signalled when one is released.
	conns    chan struct{}
	connWait atomic.Int32
	idle     chan struct{}

	hostsMu sync.Mutex
	hosts   map[string]*hostState // by origin (scheme://host:port)

	jobsMu sync.Mutex
	jobs   map[*job]struct{} // files being downloaded (for the start of the next one)
}

// addJob and removeJob keep the set of running jobs.
func (g *getter) addJob(j *job) {
	g.jobsMu.Lock()
	defer g.jobsMu.Unlock()
	if g.jobs == nil {
		g.jobs = map[*job]struct{}{}
	}
	g.jobs[j] = struct{}{}
}

func (g *getter) removeJob(j *job) {
	g.jobsMu.Lock()
	defer g.jobsMu.Unlock()
	delete(g.jobs, j)
}

// allTailing reports whether every running file has handed out all its pieces (what
// is left are its last requests and end-game races), so that the next file may use
// the connections they free.
func (g *getter) allTailing() bool {
	g.jobsMu.Lock()
	defer g.jobsMu.Unlock()
	if len(g.jobs) == 0 {
		return false
	}
	for j := range g.jobs {
		if !j.tail.Load() {
			return false
		}
	}
	return true
}

// signalIdle wakes the file dispatcher of Get.
func (g *getter) signalIdle() {
	select {
	case g.idle <- struct{}{}:
	default:
	}
}

// hostState is what the files of one Get share about one mirror host: at most
// PerMirror requests at once and one MirrorLimitRate limiter, whichever files the
// requests are for (per-host politeness).
type hostState struct {
	sem chan struct{}
	lim *rate.Limiter // nil: unlimited
}

func newGetter(opts Options) *getter {
	g := &getter{o: opts.withDefaults(), hosts: map[string]*hostState{}, idle: make(chan struct{}, 1)}
	g.lim = newLimiter(g.o.LimitRate)
	g.conns = make(chan struct{}, g.o.Connections)
	g.bufs = make(chan *[]byte, g.o.Connections+8)
	return g
}

// host returns the shared state of the origin of rawURL.
func (g *getter) host(rawURL string) *hostState {
	key := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		key = origin(u)
	}
	g.hostsMu.Lock()
	defer g.hostsMu.Unlock()
	if g.hosts == nil { // a getter not made by newGetter
		g.hosts = map[string]*hostState{}
	}
	h := g.hosts[key]
	if h == nil {
		h = &hostState{sem: make(chan struct{}, g.o.PerMirror), lim: newLimiter(g.o.MirrorLimitRate)}
		g.hosts[key] = h
	}
	return h
}

// acquire takes a request token of h's host, then one of the global budget (in that
// order, so a worker waiting for a busy host holds no global token). It fails when
// ctx ends or done is closed; release gives both back.
func (g *getter) acquire(ctx context.Context, done <-chan struct{}, h *hostState) (release func(), err error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-done:
		return nil, errStopped
	}
	if g.conns == nil { // a getter not made by newGetter: no global budget
		return func() { <-h.sem }, nil
	}
	select {
	case g.conns <- struct{}{}:
	default:
		g.connWait.Add(1)
		select {
		case g.conns <- struct{}{}:
			g.connWait.Add(-1)
		case <-ctx.Done():
			g.connWait.Add(-1)
			<-h.sem
			return nil, ctx.Err()
		case <-done:
			g.connWait.Add(-1)
			<-h.sem
			return nil, errStopped
		}
	}
	return func() {
		<-g.conns
		<-h.sem
		g.signalIdle()
	}, nil
}

// idleConns reports whether part of the global budget is unused and nobody waits for it.
func (g *getter) idleConns() bool {
	return len(g.conns) < cap(g.conns) && g.connWait.Load() == 0
}

func (g *getter) emit(ev Event) {
	if g.o.OnEvent == nil {
		return
	}
	g.evMu.Lock()
	defer g.evMu.Unlock()
	g.o.OnEvent(ev)
}

// newLimiter returns a limiter for bytesPerSec with a burst of about a tenth of a
// second (4 KiB..256 KiB), or nil for no limit.
func newLimiter(bytesPerSec int64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := min(max(bytesPerSec/10, 4<<10), 256<<10)
	return rate.NewLimiter(rate.Limit(bytesPerSec), int(burst))
}

// chunk is the most bytes one read may take: no more than any limiter's burst, else
// 1 MiB (a read returns what the socket holds; fewer, larger reads cut the client's
// CPU by about 13% against 64 KiB reads in BenchmarkGet).
func (g *getter) chunk(m *mirror) int {
	c := 1 << 20
	if g.lim != nil {
		c = min(c, g.lim.Burst())
	}
	if m.lim != nil {
		c = min(c, m.lim.Burst())
	}
	return c
}

// wait charges n bytes to the overall and the mirror's limiter.
func (g *getter) wait(ctx context.Context, m *mirror, n int) error {
	if g.lim != nil {
		if err := g.lim.WaitN(ctx, n); err != nil {
			return err
		}
	}
	if m.lim != nil {
		return m.lim.WaitN(ctx, n)
	}
	return nil
}

// maxFilesInFlight is the default of Options.MaxFiles.
const maxFilesInFlight = 8

// idleDelay is how long part of the connection budget must stay unused before the
// next file of a multi-file metalink starts.
const idleDelay = 10 * time.Millisecond

// Get downloads the files of m (all, or those matching opts.Select) into opts.Dir
// from their mirrors, verifying every piece and the whole file before it gets its
// final name. Several files download at once under one budget: Connections caps the
// requests in flight across all files, PerMirror and MirrorLimitRate apply per
// mirror host across files, LimitRate is one limiter for everything. The next file
// starts once the previous one has started and either every running file has handed
// out all its pieces (only its last requests are left) or part of the connection
// budget stays unused for 10 ms; at most MaxFiles (default 8) at once. Before any request
// the target directory must be writable and hold the bytes still missing (ErrNoSpace).
// The report lists every started file in metalink order, also on error; one file
// failing does not stop the others, and the error joins the failures of all files
// (errors.Is works with the sentinels of this package and context.Canceled).
func Get(ctx context.Context, m *metalink.Metalink, opts Options) (*Report, error) {
	start := time.Now()
	g := newGetter(opts)
	rep := &Report{}
	if m == nil || len(m.Files) == 0 {
		return rep, ErrNoFiles
	}
	files, err := Select(m.Files, g.o.Select)
	if err != nil {
		return rep, err
	}
	if g.o.Output != "" {
		if len(files) != 1 {
			return rep, fmt.Errorf("%w: an output name needs exactly one selected file, not %d", ErrUsage, len(files))
		}
		if err := checkName(g.o.Output); err != nil {
			return rep, fmt.Errorf("%w: output name %q: %v", ErrUsage, g.o.Output, err)
		}
	}
	if err := os.MkdirAll(g.o.Dir, 0o755); err != nil {
		return rep, fmt.Errorf("target directory: %w", err)
	}
	root, err := os.OpenRoot(g.o.Dir)
	if err != nil {
		return rep, fmt.Errorf("target directory: %w", err)
	}
	defer root.Close()
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
		if g.o.Output != "" {
			names[i] = g.o.Output
		}
	}
	if err := g.preflight(root, files, names); err != nil {
		return rep, err
	}

	type result struct {
		fr  FileReport
		err error
	}
	results := make([]result, len(files))
	ended := make(chan int, len(files))
	started, running := 0, 0
	maxFiles := min(g.o.MaxFiles, g.o.Connections)
	begun := make(chan struct{})
	close(begun)
	var idleSince time.Time // when the budget was last seen idle (zero: busy)
	for started < len(files) && ctx.Err() == nil {
		wb := begun
		select {
		case <-begun:
			wb = nil
		default:
		}
		idle := false
		if running > 0 && running < maxFiles && wb == nil && g.allTailing() {
			idle = true
		} else if running > 0 && running < maxFiles && wb == nil && g.idleConns() {
			// Idle for a moment, not just between two requests of one worker.
			if idleSince.IsZero() {
				idleSince = time.Now()
			}
			idle = time.Since(idleSince) >= idleDelay
		} else {
			idleSince = time.Time{}
		}
		if running == 0 || idle {
			idleSince = time.Time{}
			i := started
			started++
			running++
			b := make(chan struct{})
			begun = b
			var once sync.Once
			go func() {
				signal := func() { once.Do(func() { close(b) }) }
				defer signal()
				fr, err := g.getFileBegun(ctx, root, files[i], names[i], signal)
				results[i] = result{fr, err}
				ended <- i
			}()
			continue
		}
		var t *time.Timer
		var tc <-chan time.Time
		if !idleSince.IsZero() {
			t = time.NewTimer(idleDelay)
			tc = t.C
		}
		select {
		case <-ended:
			running--
		case <-g.idle:
		case <-wb:
		case <-tc:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
	}
	for ; running > 0; running-- {
		<-ended
	}
	var errs []error
	for _, r := range results[:started] {
		rep.Files = append(rep.Files, r.fr)
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if started < len(files) {
		// Interrupted before these started (nothing of them was touched).
		errs = append(errs, fmt.Errorf("%d of %d files not started: %w", len(files)-started, len(files), context.Cause(ctx)))
	}
	rep.Bytes = g.bytes.Load()
	rep.Duration = time.Since(start)
	return rep, errors.Join(errs...)
}

// preflight checks, before any network traffic, that the target directory takes new
// files (a probe file is created and removed) and that its file system has room for
// the bytes still missing: each selected file's size, less what an existing final
// file or part file of it already occupies.
func (g *getter) preflight(root *os.Root, files []*metalink.File, names []string) error {
	var need int64
	write := false
	for i, f := range files {
		if fi, err := root.Stat(names[i]); err == nil && fi.Mode().IsRegular() && !g.o.Overwrite {
			continue // verified and kept, or refused: nothing to write
		}
		write = true
		if f.Size <= 0 {
			continue
		}
		rest := f.Size
		if fi, err := root.Stat(names[i] + ".part"); err == nil && fi.Mode().IsRegular() {
			rest -= allocatedBytes(fi)
		}
		// Checked: sizes that are each legal may overflow int64 together (rule 15).
		if rest > 0 {
			need = satAdd(need, rest)
		}
	}
	if !write {
		return nil // every file exists: checking them writes nothing (read-only is fine)
	}
	probe := fmt.Sprintf(".mlink-probe-%08x", rand.Uint32())
	pf, err := root.OpenFile(probe, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("target directory %s is not writable: %w", g.o.Dir, err)
	}
	pf.Close()
	root.Remove(probe)
	if need == 0 {
		return nil
	}
	free, err := freeSpace(g.o.Dir)
	if err != nil {
		g.o.Logger.Debug("free space unknown", "dir", g.o.Dir, "err", err)
		return nil
	}
	if free < need {
		return fmt.Errorf("%w on %s: need %s, %s free", ErrNoSpace, g.o.Dir, sizeString(need), sizeString(free))
	}
	return nil
}

// satAdd returns a+b for non-negative a and b, or math.MaxInt64 when that overflows.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// freeBytes is blocks × bsize, saturated at math.MaxInt64: some file systems (FUSE,
// network) report absurd block counts, which must not wrap into "no space left".
func freeBytes(blocks uint64, bsize int64) int64 {
	if bsize <= 0 {
		return 0
	}
	if blocks > uint64(math.MaxInt64/bsize) {
		return math.MaxInt64
	}
	return int64(blocks) * bsize
}

// sizeString formats a byte count for error messages: "12.3 MiB (12897484 bytes)".
func sizeString(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", v, units[u], n)
}

// Select returns the files of a metalink that Options.Select globs choose: every
// file when globs is empty, else those whose name or last name component matches
// one of the path.Match patterns. A malformed pattern wraps ErrUsage; no match at
// all wraps ErrNoFiles.
func Select(all []metalink.File, globs []string) ([]*metalink.File, error) {
	var out []*metalink.File
	for i := range all {
		f := &all[i]
		if len(globs) == 0 {
			out = append(out, f)
			continue
		}
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("%w: bad select pattern %q: %v", ErrUsage, g, err)
			}
			ok1, _ := path.Match(g, f.Name)
			ok2, _ := path.Match(g, path.Base(f.Name))
			if ok1 || ok2 {
				out = append(out, f)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no file matches %q", ErrNoFiles, globs)
	}
	return out, nil
}

// checkName validates a user-supplied relative output name like a metalink name.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "\\\x00") || !filepath.IsLocal(name) || path.Clean(name) != name || strings.HasSuffix(name, "/") {
		return metalink.ErrUnsafeName
	}
	for _, c := range strings.Split(name, "/") {
		if c == "." || c == ".." || c == "" {
			return metalink.ErrUnsafeName
		}
	}
	return nil
}

// maxPieceBuffer is the largest piece whose hashes are used: each request in flight
// holds its piece whole in memory until the hash is checked. Published metalinks use
// 256 KiB to a few MiB; larger piece sets are ignored (hashPolicy) and the number of
// requests is bounded so that pieces in flight take at most pieceMemory. (Variables
// so that tests can lower them.)
var (
	maxPieceBuffer int64 = 64 << 20
	pieceMemory    int64 = 64 << 20
)

// hashPolicy checks the hashes of f against the options: it returns the supported
// whole-file hashes, the piece set to verify (nil when none), and warnings.
func (g *getter) hashPolicy(f *metalink.File) (whole []metalink.Hash, pieces *metalink.Pieces, err error) {
	for _, h := range f.Hashes {
		if metalink.HashStrength(h.Type) > 0 {
			if _, err := hex.DecodeString(h.Value); err != nil || len(h.Value) != metalink.HashHexLen(h.Type) {
				return nil, nil, fmt.Errorf("%w: malformed %s value", ErrVerify, h.Type)
			}
			whole = append(whole, h)
		}
	}
	pieces = f.StrongestPieces()
	if pieces != nil && min(pieces.Length, max(f.Size, 0)) > maxPieceBuffer {
		// A piece is held whole in memory until its hash is checked, one per request in
		// flight: a metalink's piece length must not decide how much memory this takes.
		g.emit(Event{Kind: EventWarning, File: f.Name, Piece: -1, Message: fmt.Sprintf(
			"pieces of %d bytes exceed the %d MiB a piece may take in memory: the pieces are not checked one by one, only the whole file at the end",
			pieces.Length, maxPieceBuffer>>20)})
		if len(whole) == 0 {
			return nil, nil, fmt.Errorf("%w: its only hashes are pieces of %d bytes, over the %d MiB a piece may take in memory", ErrNoHash, pieces.Length, maxPieceBuffer>>20)
		}
		pieces = nil
	}
	best := 0
	for _, h := range whole {
		best = max(best, metalink.HashStrength(h.Type))
	}
	if pieces != nil {
		best = max(best, metalink.HashStrength(pieces.Type))
	}
	switch {
	case best == 0 && !g.o.InsecureNoHash:
		return nil, nil, ErrNoHash
	case best == 0:
		g.emit(Event{Kind: EventWarning, File: f.Name, Piece: -1, Message: "no supported hash: the file is NOT verified (--insecure-no-hash)"})
	case best <= metalink.HashStrength("sha-1") && g.o.RequireStrongHash:
		return nil, nil, ErrWeakHash
	case best <= metalink.HashStrength("sha-1"):
		g.emit(Event{Kind: EventWarning, File: f.Name, Piece: -1, Message: "only weak hashes (md5/sha-1): verification does not resist a malicious mirror"})
	}
	return whole, pieces, nil
}

// orderMirrors returns the usable mirrors of f: http(s) only, --location first, then
// by priority (unset last), ties shuffled, at most MaxMirrors.
func (g *getter) orderMirrors(f *metalink.File) []*mirror {
	type cand struct {
		u   metalink.URL
		key [3]int
	}
	var cs []cand
	for _, u := range f.URLs {
		pu, err := url.Parse(u.URL)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			g.emit(Event{Kind: EventWarning, File: f.Name, Piece: -1, Mirror: Redact(u.URL), Message: "mirror ignored: only http and https URLs are used"})
			continue
		}
		if pu.User != nil {
			g.emit(Event{Kind: EventWarning, File: f.Name, Piece: -1, Mirror: Redact(u.URL), Message: "mirror ignored: URL carries credentials"})
			continue
		}
		loc := 1
		if slices.ContainsFunc(g.o.Location, func(l string) bool { return strings.EqualFold(l, u.Location) && u.Location != "" }) {
			loc = 0
		}
		pri := u.Priority
		if pri <= 0 {
			pri = 1000000
		}
		cs = append(cs, cand{u, [3]int{loc, pri, rand.Int()}})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		for i := range a.key {
			if a.key[i] != b.key[i] {
				if a.key[i] < b.key[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	if len(cs) > g.o.MaxMirrors {
		cs = cs[:g.o.MaxMirrors]
	}
	ms := make([]*mirror, len(cs))
	for i, c := range cs {
		mc := g.o.PerMirror
		if c.u.MaxConnections > 0 {
			mc = min(mc, c.u.MaxConnections)
		}
		if f.MaxConnections > 0 {
			mc = min(mc, f.MaxConnections)
		}
		ms[i] = &mirror{idx: i, url: c.u.URL, name: Redact(c.u.URL), priority: c.u.Priority, location: c.u.Location,
			maxConns: mc, tally: tally{state: MirrorIdle}}
		ms[i].host = g.host(c.u.URL)
		ms[i].lim = ms[i].host.lim
	}
	return ms
}

// getFile downloads one file to name under root.
func (g *getter) getFile(ctx context.Context, root *os.Root, f *metalink.File, name string) (FileReport, error) {
	return g.getFileBegun(ctx, root, f, name, nil)
}

// getFileBegun is getFile calling begun (when not nil) once the checks are done and
// the download is about to make requests.
func (g *getter) getFileBegun(ctx context.Context, root *os.Root, f *metalink.File, name string, begun func()) (fr FileReport, err error) {
	start := time.Now()
	if begun == nil {
		begun = func() {}
	}
	fr = FileReport{Name: f.Name, Path: filepath.Join(g.o.Dir, filepath.FromSlash(name)), Size: f.Size, State: "failed"}
	defer func() {
		fr.Duration = time.Since(start)
		if err != nil {
			fr.Error = err.Error()
			g.emit(Event{Kind: EventFileFailed, File: f.Name, Size: f.Size, Piece: -1, Err: err})
		}
	}()
	whole, pieces, err := g.hashPolicy(f)
	if err != nil {
		return fr, fmt.Errorf("%s: %w", f.Name, err)
	}
	// Preflight, before any network traffic: the directory, an existing final file.
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fr, fmt.Errorf("%s: creating directory: %w", f.Name, err)
		}
	}
	if fi, err := root.Lstat(name); err == nil {
		same := false
		if fi.Mode().IsRegular() {
			sum, ok, verr := verifyExisting(root, name, f, whole, pieces)
			if verr != nil {
				return fr, fmt.Errorf("%s: checking existing file: %w", f.Name, verr)
			}
			if ok {
				same = true
				fr.Hash = sum
			}
		}
		if same {
			fr.State = "already-complete"
			g.emit(Event{Kind: EventFileDone, File: f.Name, Size: f.Size, Done: f.Size, Piece: -1, Message: "already complete"})
			return fr, nil
		}
		if !g.o.Overwrite {
			return fr, fmt.Errorf("%s: %w (use overwrite to replace it)", fr.Path, ErrExists)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fr, fmt.Errorf("%s: %w", f.Name, err)
	}
	mirrors := g.orderMirrors(f)
	if len(mirrors) == 0 && f.Size != 0 {
		return fr, fmt.Errorf("%s: %w: no http or https mirror", f.Name, ErrNoSource)
	}
	// One writer per output (SECURITY.md case 40): a second run fails fast.
	lock, err := journalLock(root, name)
	if err != nil {
		return fr, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer lock.release()
	var (
		part     *os.File
		partName string
		jn       *journal
		good     []bool
	)
	if f.Size >= 0 {
		part, partName, jn, good, err = g.openPart(ctx, root, f, name, pieces)
	} else {
		part, partName, err = createPart(root, name, f.Size)
	}
	if err != nil {
		return fr, fmt.Errorf("%s: %w", f.Name, err)
	}
	keep := false
	defer func() {
		part.Close()
		if !keep {
			root.Remove(partName)
			if jn != nil {
				jn.remove()
			}
		}
	}()

	if f.Size < 0 {
		if len(whole) == 0 && !g.o.InsecureNoHash {
			return fr, fmt.Errorf("%s: %w: size unknown and no whole-file hash", f.Name, ErrNoHash)
		}
		g.emit(Event{Kind: EventFileStart, File: f.Name, Size: -1, Piece: -1})
		begun()
		sum, reps, err := g.getUnknownSize(ctx, part, f, whole, mirrors)
		fr.Mirrors = reps
		for _, r := range reps {
			fr.Bytes += r.Bytes
		}
		if err != nil {
			keep = ctx.Err() != nil
			return fr, err
		}
		if fi, err := part.Stat(); err == nil {
			fr.Size = fi.Size()
		}
		return g.finishFile(fr, f, part, root, partName, name, sum, &keep)
	}
	var (
		j      *job
		runErr error
	)
	for restarts := 0; ; restarts++ {
		j = g.newJob(f, part, whole, pieces, mirrors)
		j.jn, j.restarts = jn, restarts
		if restarts > 0 {
			good, fr.Resumed, fr.ResumedPartial = nil, 0, 0
		}
		for _, m := range mirrors {
			if jn != nil {
				m.val, _ = jn.validator(m.url)
			}
		}
		if len(good) == j.n {
			for i, ok := range good {
				if ok {
					j.have[i] = true
					j.nhave++
					fr.Resumed++
				}
			}
		}
		for i := 0; i < j.n; i++ {
			if j.have[i] {
				j.whole.present(i)
			}
		}
		if len(good) == j.n && j.ptype != "" && j.plen > streamBatch { // smaller pieces are never streamed
			var n int
			n, fr.ResumedPartial = j.findPartials()
			if n > 0 {
				g.o.Logger.Info("resuming unfinished pieces from their first bytes", "file", f.Name, "pieces", n, "bytes", fr.ResumedPartial)
			}
		}
		var sink *journalSink
		if jn != nil {
			sink = journalStartSink(jn, part, time.Second, func(err error) {
				j.mu.Lock()
				j.finishLocked(fmt.Errorf("resume journal: %w", err))
				j.mu.Unlock()
			})
			j.sink = sink
		}
		j.whole.start()
		g.addJob(j)
		if restarts == 0 {
			g.emit(Event{Kind: EventFileStart, File: f.Name, Size: f.Size, Done: j.doneBytesLocked(), Pieces: j.n, Piece: -1})
			begun()
		}
		runErr = j.run(ctx)
		g.removeJob(j)
		if sink != nil {
			// Commits what was written (fsync first); a failure is a disk error.
			if err := sink.close(); err != nil && runErr == nil {
				runErr = fmt.Errorf("%s: resume journal: %w", f.Name, err)
			}
		}
		if !errors.Is(runErr, errRestart) {
			break
		}
		j.whole.stop()
		// Nothing held can be trusted: forget every chunk, on disk too, and start over.
		fr.Restarted++
		msg := fmt.Sprintf("a source's file changed: %d chunks held (possibly of the old version) discarded, restarting from zero", j.nhave)
		g.o.Logger.Info(msg, "file", f.Name) // an EventWarning says it to the user
		g.emit(Event{Kind: EventWarning, File: f.Name, Piece: -1, Message: msg})
		if jn != nil {
			all := make([]int, j.n)
			for i := range all {
				all[i] = i
			}
			jn.forget(all)
			if err := jn.commit(part, nil); err != nil {
				runErr = fmt.Errorf("%s: resume journal: %w", f.Name, err)
				break
			}
		}
	}
	defer j.whole.stop()
	fr.Pieces, fr.BadPieces = j.n, j.badPieces
	for _, m := range j.mirrors {
		r := j.mirrorReportLocked(m, 0)
		if el := time.Since(start).Seconds(); el > 0 {
			r.Speed = float64(r.Bytes) / el
		}
		fr.Bytes += r.Bytes
		fr.Mirrors = append(fr.Mirrors, r)
	}
	if runErr != nil {
		if ctx.Err() != nil {
			keep = true // resumable: the next run continues from the journal
			return fr, fmt.Errorf("%s: %w", f.Name, ctx.Err())
		}
		if isDiskFull(runErr) {
			// The journal claims only fsynced pieces and a resume re-verifies them:
			// keep both, so the same call continues once space is freed.
			keep = jn != nil
			return fr, fmt.Errorf("%s: %w on %s: %w; free some space and run the same download again to continue", f.Name, ErrNoSpace, g.o.Dir, runErr)
		}
		return fr, runErr
	}
	sum, err := j.whole.check()
	if err != nil {
		return fr, &PieceError{File: f.Name, Index: -1, Err: err}
	}
	if sum == "" && pieces != nil {
		sum = pieces.Type + " pieces"
	}
	fr, err = g.finishFile(fr, f, part, root, partName, name, sum, &keep)
	if err == nil && jn != nil {
		jn.remove() // the file is complete under its name; a leftover journal is harmless
	}
	return fr, err
}

// findPartials finds, in the part file of an interrupted run, the first bytes of the
// pieces it does not have: a request streams what it receives into the part file
// (readPiece), so a run killed in the middle of a piece leaves its start there, followed
// by zeros (never written; preallocated or sparse). The prefix is taken up to its last
// non-zero byte (zeros that belong to the data are simply fetched again) and only the
// rest of the piece is requested; the piece is still verified whole, and a prefix that
// turns out wrong (not fsynced before a crash, or from a mirror that sent bad data) is
// dropped and the piece fetched whole, blaming nobody. It returns the number of such
// pieces and their bytes. Call it before run.
func (j *job) findPartials() (pieces int, bytes int64) {
	buf := j.getBuf()
	defer j.putBuf(buf)
	for i := 0; i < j.n; i++ {
		if j.have[i] {
			continue
		}
		off, l := j.pieceRange(i)
		head := min(l, int64(len(zeroBlock)))
		if _, err := j.out.ReadAt(buf[:head], off); err != nil || isZero(buf[:head]) {
			continue
		}
		if _, err := j.out.ReadAt(buf[:l], off); err != nil {
			continue
		}
		k := dataEnd(buf[:l])
		if k >= l {
			continue // all there, yet not good: garbage
		}
		j.partial[i] = k
		pieces++
		bytes += k
	}
	return pieces, bytes
}

var zeroBlock [4096]byte

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// dataEnd is the length of b without its trailing zero bytes.
func dataEnd(b []byte) int64 {
	end := len(b)
	for end > 0 {
		start := max(end-len(zeroBlock), 0)
		if !isZero(b[start:end]) {
			for end > start && b[end-1] == 0 {
				end--
			}
			return int64(end)
		}
		end = start
	}
	return 0
}

// isDiskFull reports whether err is the file system running out of space (or quota).
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrNoSpace)
}

// openPart opens the part file of name. When a resume journal of name exists, NAME.part
// is this program's: the pieces the journal claims are re-verified (or, when the journal
// is damaged or belongs to another version of the file, the whole part file is
// hash-scanned) and returned as good. Without a journal an existing NAME.part is
// somebody else's file and is left alone (createPart picks another name, and no journal
// is kept for that name). The journal returned (nil when none is kept) is fed by the
// engine through a journalSink.
func (g *getter) openPart(ctx context.Context, root *os.Root, f *metalink.File, name string, pieces *metalink.Pieces) (*os.File, string, *journal, []bool, error) {
	fe := *f
	fe.Name = name
	chunk := defaultPieceLength(f.Size)
	if pieces != nil {
		chunk = pieces.Length
	} else {
		fe.Pieces = nil // none used (hashPolicy): the journal records plain chunks
	}
	id, idErr := journalIdentityOf(&fe, chunk)
	fsys := journalRootFS{root}
	partName := name + ".part"
	if idErr == nil {
		if _, err := root.Lstat(journalPath(name)); err == nil {
			if p, err := openOwnPart(root, partName); err == nil {
				if fi, err := p.Stat(); err == nil && fi.Size() != f.Size {
					if err := p.Truncate(f.Size); err != nil {
						p.Close()
						return nil, "", nil, nil, fmt.Errorf("resuming %s: %w", partName, err)
					}
				}
				good, validators, discarded, err := journalResume(ctx, fsys, p, &fe, id)
				if err == nil && discarded == nil && pieces != nil {
					// The journal only claims fsynced pieces; pieces written since the
					// last commit are usually intact too (kill, not power loss). Hashing
					// is cheaper than fetching: scan every piece, trust none.
					good, err = verify.Pieces(ctx, p, f.Size, pieces, nil, verify.Options{})
				}
				if err != nil {
					p.Close()
					return nil, "", nil, nil, fmt.Errorf("resuming %s: %w", partName, err)
				}
				if discarded != nil {
					g.o.Logger.Info("resume journal not used; part file hash-scanned", "file", name, "reason", discarded)
				}
				jn, err := newJournal(fsys, name, id, good, validators)
				if err != nil {
					p.Close()
					return nil, "", nil, nil, err
				}
				return p, partName, jn, good, nil
			}
		}
	}
	p, pn, err := createPart(root, name, f.Size)
	if err != nil {
		return nil, "", nil, nil, err
	}
	var jn *journal
	if idErr == nil && pn == partName {
		// Saved at once (empty), so that NAME.part is known as ours even when this run
		// is killed before the first periodic commit.
		if jn, err = newJournal(fsys, name, id, nil, nil); err == nil {
			err = jn.commit(p, nil)
		}
		if err != nil {
			p.Close()
			root.Remove(pn)
			if jn != nil {
				jn.remove()
			}
			return nil, "", nil, nil, fmt.Errorf("starting the resume journal: %w", err)
		}
	}
	return p, pn, jn, nil, nil
}

// openOwnPart opens the part file of an earlier run for resuming, only when partName
// is a regular file itself: a symbolic link (or anything else) put there since is
// never opened, so no other file is truncated or written through it (SECURITY.md
// rule 11); the caller then creates a part file of another name. The file opened is
// checked to be the one looked at (no swap in between).
func openOwnPart(root *os.Root, partName string) (*os.File, error) {
	lfi, err := root.Lstat(partName)
	if err != nil {
		return nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", partName, lfi.Mode().Type())
	}
	p, err := root.OpenFile(partName, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := p.Stat(); err != nil || !os.SameFile(lfi, fi) {
		p.Close()
		return nil, fmt.Errorf("%s: replaced while being opened", partName)
	}
	return p, nil
}

// finishFile fsyncs the verified part file and gives it its final name.
func (g *getter) finishFile(fr FileReport, f *metalink.File, part *os.File, root *os.Root, partName, name, sum string, keep *bool) (FileReport, error) {
	fr.Hash = sum
	if err := part.Sync(); err != nil {
		return fr, fmt.Errorf("%s: fsync: %w", f.Name, err)
	}
	if err := finalize(root, partName, name, g.o.Overwrite); err != nil {
		*keep = errors.Is(err, ErrExists)
		return fr, fmt.Errorf("%s: %w", f.Name, err)
	}
	*keep = true
	fr.State = "done"
	g.emit(Event{Kind: EventFileDone, File: f.Name, Size: fr.Size, Done: fr.Size, Pieces: fr.Pieces, Piece: -1})
	return fr, nil
}

// testWrapPart, when set by a test, wraps the part file the engine writes pieces to
// (fault injection: ENOSPC, EIO).
var testWrapPart func(partFile) partFile

func (g *getter) newJob(f *metalink.File, part *os.File, whole []metalink.Hash, pieces *metalink.Pieces, mirrors []*mirror) *job {
	j := &job{g: g, name: f.Name, size: f.Size, out: part, mirrors: mirrors, hashes: f.Hashes}
	if testWrapPart != nil {
		j.out = testWrapPart(part)
	}
	if pieces != nil {
		j.plen, j.ptype = pieces.Length, pieces.Type
		for _, s := range pieces.Hashes {
			b, _ := hex.DecodeString(s)
			j.psums = append(j.psums, b)
		}
	} else {
		j.plen = defaultPieceLength(f.Size)
	}
	j.n = int(((&metalink.Pieces{Length: j.plen}).Count(f.Size)))
	if pieces != nil && len(j.psums) != j.n {
		// The decoder guarantees this; never index out of range if it did not.
		j.ptype, j.psums = "", nil
	}
	j.have = make([]bool, j.n)
	j.partial = make([]int64, j.n)
	j.streamW = make([]int8, j.n)
	j.wcond = sync.NewCond(&j.mu)
	j.claimed = make([]bool, j.n)
	j.holders = make([]int8, j.n)
	j.badFrom = make([]uint64, j.n)
	j.fails = make([]int, j.n)
	j.whole = newWholeHasher(whole, j.ptype, part, j.n, j.pieceRange, j.putBuf, 4<<20)
	return j
}

// defaultPieceLength is the scheduling unit of a file without piece hashes.
func defaultPieceLength(size int64) int64 {
	const maxLen, minLen = 1 << 20, 16 << 10
	l := int64(maxLen)
	if size/64 < l {
		l = max((size/64+minLen-1)/minLen*minLen, minLen)
	}
	return l
}

// preallocateFn is preallocate, replaced by tests that simulate a file system without
// fallocate.
var preallocateFn = preallocate

// createPart creates NAME.part (or NAME.<random>.part when that name is taken by a
// file this run did not create), exclusively, and preallocates it.
func createPart(root *os.Root, name string, size int64) (*os.File, string, error) {
	partName := name + ".part"
	for try := 0; ; try++ {
		f, err := root.OpenFile(partName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			if size > 0 {
				if err := preallocateFn(f, size); err != nil {
					if errors.Is(err, syscall.ENOSPC) {
						f.Close()
						root.Remove(partName)
						return nil, "", fmt.Errorf("preallocating %d bytes for %s: %w", size, partName, err)
					}
					if err := f.Truncate(size); err != nil {
						f.Close()
						root.Remove(partName)
						return nil, "", fmt.Errorf("preallocating %s: %w", partName, err)
					}
				}
			}
			return f, partName, nil
		}
		if !errors.Is(err, fs.ErrExist) || try >= 8 {
			return nil, "", fmt.Errorf("creating %s: %w", partName, err)
		}
		partName = fmt.Sprintf("%s.%08x.part", name, rand.Uint32())
	}
}

// finalize gives the verified part file its final name without replacing anything
// (a hard link, then removing the part name), or with Overwrite by renaming over the
// old entry (a symlink is replaced, never followed). The directory is fsynced.
func finalize(root *os.Root, partName, name string, overwrite bool) error {
	if overwrite {
		if err := root.Rename(partName, name); err != nil {
			return fmt.Errorf("renaming to %s: %w", name, err)
		}
	} else {
		if err := root.Link(partName, name); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: %s appeared during the download; the verified data is kept in %s", ErrExists, name, partName)
			}
			return fmt.Errorf("linking to %s: %w", name, err)
		}
		if err := root.Remove(partName); err != nil {
			return fmt.Errorf("removing %s: %w", partName, err)
		}
	}
	dir := path.Dir(name)
	if d, err := root.Open(dir); err == nil {
		if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
			d.Close()
			return fmt.Errorf("fsync of directory: %w", err)
		}
		d.Close()
	}
	return nil
}

// verifyExisting hashes an existing regular file: ok when its size and every
// supported whole-file hash (or, without one, every piece hash) match.
func verifyExisting(root *os.Root, name string, f *metalink.File, whole []metalink.Hash, pieces *metalink.Pieces) (string, bool, error) {
	fh, err := root.Open(name)
	if err != nil {
		return "", false, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return "", false, err
	}
	if f.Size >= 0 && fi.Size() != f.Size {
		return "", false, nil
	}
	if len(whole) == 0 && pieces == nil {
		return "", false, nil // nothing to prove it is the same file
	}
	if len(whole) > 0 {
		best, bestS := "", 0
		for _, h := range whole {
			if _, err := fh.Seek(0, io.SeekStart); err != nil {
				return "", false, err
			}
			sum, _, err := digest.Reader(h.Type, fh)
			if err != nil {
				return "", false, err
			}
			if hex.EncodeToString(sum) != h.Value {
				return "", false, nil
			}
			if s := metalink.HashStrength(h.Type); s > bestS {
				best, bestS = h.Type+":"+h.Value, s
			}
		}
		return best, true, nil
	}
	buf := make([]byte, min(pieces.Length, f.Size))
	for i := int64(0); i < pieces.Count(f.Size); i++ {
		off, l, _ := pieces.Piece(f.Size, i)
		if _, err := fh.ReadAt(buf[:l], off); err != nil {
			return "", false, err
		}
		sum, err := digest.Bytes(pieces.Type, buf[:l])
		if err != nil || hex.EncodeToString(sum) != pieces.Hashes[i] {
			return "", false, err
		}
	}
	return pieces.Type + " pieces", true, nil
}
