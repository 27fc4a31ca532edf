package fetch

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/mlinkdev/mlink/metalink"
)

// pieceSink is the integration point of the resume journal (fetch/journal.go): the
// engine calls pieceWritten(i) after piece i verified and was written to the part file
// with WriteAt (not yet fsynced); the sink fsyncs in batches and records the piece.
// Nil means no journal.
type pieceSink interface {
	pieceWritten(i int)
}

// errLostRace and errStopped cancel a request without blaming its mirror.
var (
	errLostRace = errors.New("piece completed by another mirror")
	errStopped  = errors.New("request no longer needed")
	// errRestart ends a job whose file has no piece hashes when a source's file
	// changed while chunks of unknown origin were held: getFile starts over from zero.
	errRestart = errors.New("a source's file changed: restarting from zero")
)

// mirror is one URL of one file and everything measured about it.
type mirror struct {
	// immutable
	idx      int
	url      string
	name     string // redacted
	priority int
	location string
	maxConns int
	host     *hostState    // request tokens and limiter shared with other files
	lim      *rate.Limiter // the host's MirrorLimitRate limiter; nil: unlimited

	bytes atomic.Int64 // body bytes received

	// guarded by job.mu
	workers   int
	spawned   bool
	seqWorker bool
	seqUsed   bool
	revived   bool    // was changed, used again as the last source (reviveChangedLocked)
	connSpeed float64 // EWMA of one connection's throughput, bytes/s
	tally             // state, failures, counters
	// val is what the mirror said about its copy (from its first good 206, or from the
	// resume journal); sent as If-Range on every ranged request once known.
	val journalValidator
}

func (m *mirror) usableLocked() bool {
	return m.state != MirrorDropped && m.state != MirrorQuarantined && m.state != MirrorNoRange && m.state != MirrorIgnored &&
		m.state != MirrorChanged
}

// assignment is one request: pieces [lo, end) held by mirror m. lo advances as pieces
// finish; end shrinks when an idle mirror steals the unstarted tail.
type assignment struct {
	m      *mirror
	race   bool
	seq    bool
	ctx    context.Context
	cancel context.CancelCauseFunc

	// guarded by job.mu
	lo, end   int
	first     int   // lo when the request was made
	from      int64 // bytes of piece first already on disk (partial resume); the request starts after them
	streaming bool  // piece lo is being received
	loStart   time.Time
	pos       int64     // bytes of piece lo received so far (for ETAs)
	made      time.Time // when the request was made
}

// job downloads one file: the scheduler state shared by the workers of its mirrors.
type job struct {
	g     *getter
	name  string
	size  int64
	plen  int64
	n     int
	ptype string // piece hash type ("" when the file has no piece hashes)
	// hashes are the file's whole-file hashes, compared with the digests mirrors advertise.
	hashes []metalink.Hash
	psums  [][]byte // piece digests
	out    partFile
	wmu    sync.Mutex // serialises writes into out (writeAt)
	sink   pieceSink
	jn     *journal // where validators are kept across runs; nil: none
	// restarts is how many times this file already started over (errRestart).
	restarts int
	// tail is set once every piece is done or held by a request (see getter.allTailing).
	tail    atomic.Bool
	whole   *wholeHasher
	mirrors []*mirror

	mu        sync.Mutex
	have      []bool  // verified and written (or present before the run)
	partial   []int64 // bytes at the start of a missing piece found on disk (resume); 0: none
	streamW   []int8  // streaming writes into the piece in progress (see streamWrite)
	wcond     *sync.Cond
	claimed   []bool // being written by a winner
	holders   []int8 // requests currently holding the piece
	badFrom   []uint64
	fails     []int
	nhave     int
	scan      int // no unassigned piece below this index
	assigns   map[*assignment]struct{}
	wake      chan struct{}
	slots     int // free connection slots
	finished  bool
	err       error
	done      chan struct{}
	badPieces int
	seqActive bool
	lastBench time.Time // the last time a slow mirror gave a connection up (benchLocked)
	wg        sync.WaitGroup
}

// partFile is what the engine needs of the part file.
type partFile interface {
	io.WriterAt
	io.ReaderAt
}

func (j *job) pieceRange(i int) (off, length int64) {
	off = int64(i) * j.plen
	length = min(j.plen, j.size-off)
	return
}

// broadcastLocked wakes every waiting worker.
func (j *job) broadcastLocked() {
	close(j.wake)
	j.wake = make(chan struct{})
}

func (j *job) finishLocked(err error) {
	if j.finished {
		return
	}
	j.finished = true
	j.err = err
	for a := range j.assigns {
		a.cancel(errStopped)
	}
	close(j.done)
	j.broadcastLocked()
}

// run downloads every piece not yet in have, then waits for the workers to end.
func (j *job) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	j.mu.Lock()
	j.wake = make(chan struct{})
	j.done = make(chan struct{})
	j.assigns = map[*assignment]struct{}{}
	// Each request holds a piece in memory: large pieces mean fewer requests at once.
	j.slots = int(min(int64(j.g.o.Connections), max(2, pieceMemory/max(min(j.plen, j.size), 1))))
	if j.nhave == j.n {
		j.finishLocked(nil)
	}
	j.spawnLocked(ctx)
	j.mu.Unlock()

	tick := time.NewTicker(j.g.o.ProgressInterval)
	defer tick.Stop()
	last := time.Now()
loop:
	for {
		select {
		case <-j.done:
			break loop
		case <-ctx.Done():
			j.mu.Lock()
			j.finishLocked(context.Cause(ctx))
			j.mu.Unlock()
			break loop
		case now := <-tick.C:
			j.progress(now.Sub(last))
			last = now
		}
	}
	cancel()
	j.wg.Wait()
	j.progress(time.Since(last))
	if j.err == nil && parent.Err() != nil {
		return parent.Err()
	}
	return j.err
}

// spawnLocked hands free connection slots to mirrors in preference order: first one
// to each mirror never used, then one more at a time round the mirrors below their
// per-mirror cap, so that the budget is spread over as many mirrors as it reaches (8
// mirrors and 16 connections: 2 each) rather than filling the first ones' caps and
// leaving the others unused.
func (j *job) spawnLocked(ctx context.Context) {
	if j.finished || ctx.Err() != nil {
		return
	}
	for _, m := range j.mirrors {
		if j.slots <= 0 {
			return
		}
		if m.usableLocked() && !m.spawned && m.workers < m.maxConns {
			j.startWorkerLocked(ctx, m, false)
		}
	}
	for started := true; started && j.slots > 0; {
		started = false
		for _, m := range j.mirrors {
			if j.slots <= 0 {
				return
			}
			if m.usableLocked() && m.workers < m.maxConns {
				j.startWorkerLocked(ctx, m, false)
				started = true
			}
		}
	}
}

func (j *job) startWorkerLocked(ctx context.Context, m *mirror, seq bool) {
	m.spawned = true
	m.workers++
	j.slots--
	if m.state == MirrorIdle {
		m.state = MirrorActive
	}
	if seq {
		// Active from now, not from its first request: another worker's stuckLocked
		// in between must not end the job for want of the source just started.
		m.seqWorker, j.seqActive = true, true
	}
	j.wg.Add(1)
	go j.worker(ctx, m, seq)
}

// worker runs requests for mirror m until the job ends or m becomes unusable.
func (j *job) worker(ctx context.Context, m *mirror, seq bool) {
	defer j.wg.Done()
	for {
		j.mu.Lock()
		a, wake, timer, exit := j.nextLocked(ctx, m, seq)
		if exit {
			m.workers--
			j.slots++
			if seq {
				m.seqWorker, j.seqActive = false, false
			}
			j.spawnLocked(ctx)
			if !j.finished && ctx.Err() == nil && j.workersLocked() == 0 {
				j.stuckLocked(ctx)
			}
			j.mu.Unlock()
			return
		}
		j.mu.Unlock()
		if a == nil {
			var tc <-chan time.Time
			if timer != nil {
				tc = timer.C
			}
			select {
			case <-wake:
			case <-tc:
			case <-ctx.Done():
			}
			if timer != nil {
				timer.Stop()
			}
			continue
		}
		// One request token of the mirror's host and one of the global budget, shared
		// with the other files of this Get, for the time of the request.
		release, err := j.g.acquire(a.ctx, j.done, m.host)
		if err != nil {
			j.mu.Lock()
			j.endAssignLocked(a)
			j.mu.Unlock()
			continue
		}
		j.transfer(a)
		release()
	}
}

// nextLocked picks the next request for one worker of m: the lowest unassigned
// pieces, else the unstarted tail of a slower request, else a race for the in-flight
// piece that would finish last. It returns exit when the worker should end, or a
// channel (and maybe a timer) to wait on when there is nothing to do now.
func (j *job) nextLocked(ctx context.Context, m *mirror, seq bool) (a *assignment, wake chan struct{}, timer *time.Timer, exit bool) {
	if j.finished || ctx.Err() != nil {
		return nil, nil, nil, true
	}
	if seq {
		if m.seqUsed || m.state != MirrorNoRange {
			return nil, nil, nil, true
		}
		m.seqUsed = true
		j.seqActive = true
		return j.newAssignLocked(ctx, m, 0, j.n, false, true), nil, nil, false
	}
	if !m.usableLocked() || j.benchLocked(m) {
		return nil, nil, nil, true
	}
	if d := time.Until(m.backoffUntil); d > 0 {
		m.state = MirrorBackoff
		return nil, j.wake, time.NewTimer(d), false
	}
	m.state = MirrorActive
	bit := uint64(1) << m.idx
	// 1. Unassigned pieces, lowest first, as one run of consecutive pieces.
	for i := j.scan; i < j.n; i++ {
		if j.have[i] || j.holders[i] > 0 {
			if i == j.scan {
				j.scan++
			}
			continue
		}
		if j.badFrom[i]&bit != 0 {
			continue
		}
		k := j.wantLocked(m)
		end := i + 1
		// A piece with a prefix on disk only ever starts a request (a Range cannot skip it).
		for end < j.n && end-i < k && !j.have[end] && j.holders[end] == 0 && j.badFrom[end]&bit == 0 && j.partial[end] == 0 {
			end++
		}
		a := j.newAssignLocked(ctx, m, i, end, false, false)
		a.from = j.partial[i]
		return a, nil, nil, false
	}
	if j.scan >= j.n && !j.tail.Load() {
		j.tail.Store(true)
		j.g.signalIdle()
	}
	// 2. Steal the back half of the unstarted tail of the request that would finish last.
	if b, s := j.stealCandidateLocked(m); b != nil {
		from := b.end - s
		b.end = from
		na := j.newAssignLocked(ctx, m, from, from+s, false, false)
		for i := from; i < from+s; i++ {
			j.holders[i]-- // ownership moves; newAssignLocked counted it again
		}
		return na, nil, nil, false
	}
	// 3. End-game: race the in-flight piece with the latest expected finish.
	if p := j.raceCandidateLocked(m); p >= 0 {
		return j.newAssignLocked(ctx, m, p, p+1, true, false), nil, nil, false
	}
	if j.stuckLocked(ctx) {
		return nil, nil, nil, true
	}
	// A piece that no running mirror may fetch but an unused one may: make room.
	if j.needStandbyLocked() {
		return nil, nil, nil, true
	}
	return nil, j.wake, nil, false
}

// benchLocked reports whether a worker of m should give its connection up to a mirror
// never tried yet, which happens when there are more mirrors than connections: at most
// once a second, the slowest measured mirror in use gives one connection up, and
// spawnLocked hands the slot to the next untried mirror. The connections so move, one
// at a time, from the slowest mirrors to ones not yet measured until every mirror has
// been tried, so that a fast mirror further down the list is found. A mirror that is
// the only one measured in use keeps its connections. m stays usable: it gets slots
// again once no untried mirror is left.
func (j *job) benchLocked(m *mirror) bool {
	if m.connSpeed <= 0 || time.Since(j.lastBench) < time.Second {
		return false
	}
	untried, others := false, false
	for _, o := range j.mirrors {
		if !o.spawned && o.usableLocked() {
			untried = true
		}
		if o != m && o.workers > 0 && o.connSpeed > 0 {
			if o.connSpeed < m.connSpeed {
				return false // another mirror in use is slower
			}
			others = true
		}
	}
	if !untried || !others {
		return false // (the only mirror in use, e.g. with one connection, keeps it)
	}
	j.lastBench = time.Now()
	j.g.o.Logger.Debug("slowest mirror gives a connection to an untried one", "file", j.name, "mirror", m.name, "speed", m.connSpeed)
	return true
}

func (j *job) newAssignLocked(ctx context.Context, m *mirror, lo, end int, race, seq bool) *assignment {
	a := &assignment{m: m, lo: lo, end: end, first: lo, race: race, seq: seq, made: time.Now()}
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	if !seq {
		for i := lo; i < end; i++ {
			j.holders[i]++
		}
	}
	j.assigns[a] = struct{}{}
	m.requests++
	return a
}

// fromFor is how many bytes of piece p this request took from the disk, not the network.
func (a *assignment) fromFor(p int) int64 {
	if p == a.first {
		return a.from
	}
	return 0
}

func (j *job) workersLocked() int {
	n := 0
	for _, m := range j.mirrors {
		n += m.workers
	}
	return n
}

// wantLocked is how many pieces one request of m may cover: RequestSeconds of the
// measured throughput of one of its connections, at least 1, and no more than a fair
// share of what is left.
func (j *job) wantLocked(m *mirror) int {
	k := 1
	if m.connSpeed > 0 {
		k = int(m.connSpeed * j.g.o.RequestSeconds / float64(j.plen))
	}
	left := j.n - j.nhave
	workers := j.workersLocked()
	if share := (left + workers - 1) / max(workers, 1); k > share {
		k = share
	}
	return max(k, 1)
}

// etaLocked estimates the seconds until request b has finished piece p (p in [b.lo, b.end)).
func (j *job) etaLocked(b *assignment, p int) float64 {
	_, l := j.pieceRange(b.lo)
	rest := float64(l - b.pos)
	for i := b.lo + 1; i <= p; i++ {
		_, li := j.pieceRange(i)
		rest += float64(li)
	}
	sp := b.m.connSpeed
	if sp <= 0 {
		// Unmeasured: judge by what this request did so far, else assume the worst.
		if el := time.Since(b.loStart).Seconds(); b.streaming && el > 0 && b.pos > 0 {
			sp = float64(b.pos) / el
		} else {
			return 1e9
		}
	}
	return rest / sp
}

// minGain is the least expected saving, in seconds, for which an idle mirror steals
// or races work: both cost a cancelled request (and, over HTTP/1.1, its connection
// with whatever the server had already sent).
//
// Under an overall rate limit a second copy takes its bandwidth from the first, so
// only real stragglers (more than 2 s behind) are raced then.
func (j *job) minGain() float64 {
	g := j.g.o.RequestSeconds / 8
	if j.g.o.LimitRate > 0 {
		g = max(g, 2)
	}
	return g
}

// ownTimeLocked is m's expected seconds to fetch bytes, or -1 when m is unmeasured.
func (j *job) ownTimeLocked(m *mirror, bytes int64) float64 {
	if m.connSpeed <= 0 {
		return -1
	}
	return float64(bytes) / m.connSpeed
}

func (j *job) stealCandidateLocked(m *mirror) (*assignment, int) {
	bit := uint64(1) << m.idx
	var best *assignment
	bestS, bestETA := 0, 0.0
	for b := range j.assigns {
		if b.m == m || b.seq {
			continue
		}
		first := b.lo + 1 // piece lo is (or is about to be) streaming
		tail := b.end - first
		if tail < 1 {
			continue
		}
		s := max(1, tail/2)
		ok := true
		for i := b.end - s; i < b.end; i++ {
			if j.badFrom[i]&bit != 0 {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		eta := j.etaLocked(b, b.end-1)
		var bytes int64
		for i := b.end - s; i < b.end; i++ {
			_, l := j.pieceRange(i)
			bytes += l
		}
		own := j.ownTimeLocked(m, bytes)
		if own < 0 {
			if b.m.connSpeed > 0 {
				continue // an unmeasured mirror does not take work from a measured one
			}
		} else if own+j.minGain() >= eta || 2*own >= eta {
			continue // not worth cutting the owner's request (its connection is lost)
		}
		if best == nil || eta > bestETA {
			best, bestS, bestETA = b, s, eta
		}
	}
	return best, bestS
}

func (j *job) raceCandidateLocked(m *mirror) int {
	bit := uint64(1) << m.idx
	best, bestETA := -1, 0.0
	for b := range j.assigns {
		if b.m == m || b.seq {
			continue
		}
		for p := b.lo; p < b.end; p++ {
			if j.have[p] || j.claimed[p] || j.holders[p] >= 2 || j.badFrom[p]&bit != 0 || j.heldByLocked(m, p) {
				continue
			}
			if b.m.connSpeed <= 0 && !b.streaming && time.Since(b.made).Seconds() < 2*j.minGain() {
				continue // the owner is new and its answer not yet due: too early to judge it
			}
			eta := j.etaLocked(b, p)
			_, l := j.pieceRange(p)
			own := j.ownTimeLocked(m, l)
			if own >= 0 && (own*1.25 >= eta || own+j.minGain() >= eta) {
				continue
			}
			if own < 0 && eta < 4*j.minGain() {
				continue // an unmeasured racer only races an owner expected to need a while
			}
			if best < 0 || eta > bestETA {
				best, bestETA = p, eta
			}
		}
	}
	return best
}

func (j *job) heldByLocked(m *mirror, p int) bool {
	for b := range j.assigns {
		if b.m == m && p >= b.lo && p < b.end {
			return true
		}
	}
	return false
}

// stuckLocked ends the job with ErrNoSource when a missing piece has no possible
// source left, or starts the sequential fallback of a range-less mirror when it is the
// last one. It reports whether the job ended.
func (j *job) stuckLocked(ctx context.Context) bool {
	if len(j.assigns) > 0 || j.seqActive {
		return false
	}
	usable := uint64(0)
	for _, m := range j.mirrors {
		if m.usableLocked() {
			usable |= 1 << m.idx
		}
	}
	if usable == 0 {
		if j.reviveChangedLocked(ctx) || j.startSequentialLocked(ctx, -1) {
			return false
		}
		j.finishLocked(&PieceError{File: j.name, Index: -1, Err: j.noSourceCause()})
		return true
	}
	for i := 0; i < j.n; i++ {
		if !j.have[i] && usable&^j.badFrom[i] == 0 {
			if j.startSequentialLocked(ctx, i) {
				return false
			}
			j.finishLocked(&PieceError{File: j.name, Index: i, Err: ErrNoSource})
			return true
		}
	}
	return false
}

// startSequentialLocked starts the one sequential read of a range-less mirror that
// has not made it yet, when it is the last source left: of the whole file (piece
// < 0: no ranged mirror is usable) or of piece (every usable ranged mirror already
// sent it bad). The stream reads from offset 0 and keeps only pieces still missing,
// each verified; the ranged mirrors go on beside it. It reports whether one started.
func (j *job) startSequentialLocked(ctx context.Context, piece int) bool {
	for _, m := range j.mirrors {
		if m.state != MirrorNoRange || m.seqUsed || m.seqWorker {
			continue
		}
		if piece >= 0 && j.badFrom[piece]&(1<<m.idx) != 0 {
			continue
		}
		if piece >= 0 {
			j.g.o.Logger.Info("no ranged mirror left for a piece: reading it from a mirror that ignores Range, from the start", "file", j.name, "piece", piece, "mirror", m.name)
		}
		j.startWorkerLocked(ctx, m, true)
		return true
	}
	return false
}

// reviveChangedLocked gives the mirrors dropped as changed one more chance, without
// If-Range, when nothing else is left and the file has piece hashes: their ETag or
// date may have changed without the bytes (backends of a load balancer, a copy that
// did not keep mtimes), and every piece they send is still checked on its own, a bad
// one quarantining them as usual. It reports whether any mirror was revived.
func (j *job) reviveChangedLocked(ctx context.Context) bool {
	if j.ptype == "" {
		return false
	}
	revived := false
	for _, m := range j.mirrors {
		if m.state != MirrorChanged || m.revived {
			continue
		}
		m.revived, m.state, m.consecErr = true, MirrorIdle, 0
		m.val = journalValidator{}
		if j.jn != nil {
			j.jn.setValidator(m.url, journalValidator{})
		}
		j.g.o.Logger.Info("no other source: using a changed mirror again, its pieces still verified one by one", "file", j.name, "mirror", m.name)
		revived = true
	}
	if revived {
		j.spawnLocked(ctx)
	}
	return revived
}

// noSourceCause wraps ErrNoSource with the last mirror error, if any.
func (j *job) noSourceCause() error {
	for _, m := range j.mirrors {
		if m.lastErr != nil {
			return errors.Join(ErrNoSource, m.lastErr)
		}
	}
	return ErrNoSource
}

// needStandbyLocked reports whether an unused mirror could fetch a missing piece that
// no running mirror may fetch (so a running worker should give up its slot).
func (j *job) needStandbyLocked() bool {
	var running, standby uint64
	for _, m := range j.mirrors {
		if !m.usableLocked() {
			continue
		}
		if m.workers > 0 {
			running |= 1 << m.idx
		} else {
			standby |= 1 << m.idx
		}
	}
	if standby == 0 {
		return false
	}
	for i := 0; i < j.n; i++ {
		if !j.have[i] && j.holders[i] == 0 && running&^j.badFrom[i] == 0 && standby&^j.badFrom[i] != 0 {
			return true
		}
	}
	return false
}

// releaseLocked gives piece i back (one holder fewer).
func (j *job) releaseLocked(i int) {
	j.holders[i]--
	if j.holders[i] == 0 && !j.have[i] && i < j.scan {
		j.scan = i
	}
}

// endAssignLocked releases what a finished request still held.
func (j *job) endAssignLocked(a *assignment) {
	if a.seq {
		j.seqActive = false
	} else {
		for i := a.lo; i < a.end; i++ {
			j.releaseLocked(i)
		}
		a.lo = a.end
	}
	delete(j.assigns, a)
	a.cancel(errStopped)
	j.broadcastLocked()
}

// failures is what a mirror's failed requests left behind (guarded by the lock of
// the job or repairer that owns the mirror).
// tally is what a download (job) or a repair (repairer) records about one mirror,
// guarded by its owner's lock, and what the reports and progress events say of it.
type tally struct {
	state MirrorState
	failures
	requests  int
	bad       int     // pieces that failed their hash
	good      int64   // bytes of pieces it delivered that were used
	lastBytes int64   // body bytes at the last progress event
	speed     float64 // speed over the last progress interval, bytes/s
}

// reportLocked is the mirror's report line; bytes is its body bytes received.
func (t *tally) reportLocked(name string, bytes int64, speed float64) MirrorReport {
	r := MirrorReport{URL: name, State: t.state, Bytes: bytes, Good: t.good, Speed: speed,
		Requests: t.requests, Errors: t.errors, BadPieces: t.bad}
	if t.lastErr != nil {
		r.LastError = t.lastErr.Error()
	}
	return r
}

// badPieceLocked records that this mirror (name) sent piece p of file (of n pieces)
// failing its hash: it logs msg, emits EventPieceBad and returns whether the mirror
// has now sent MaxBadPieces and is to be quarantined, and the error to record.
func (t *tally) badPieceLocked(g *getter, msg, file, name string, n, p int) (quarantine bool, err error) {
	t.bad++
	err = &PieceError{File: file, Index: p, Mirror: name, Err: ErrPieceHash}
	t.lastErr = err
	g.o.Logger.Info(msg, "file", file, "piece", p, "mirror", name)
	g.emit(Event{Kind: EventPieceBad, File: file, Pieces: n, Piece: p, Mirror: name, Err: err})
	if t.bad < g.o.MaxBadPieces {
		return false, err
	}
	t.errors++
	return true, err
}

// progressLocked updates the speed from bytes (received so far) over the last secs
// and returns the report for a progress event.
func (t *tally) progressLocked(name string, bytes int64, secs float64) MirrorReport {
	if secs > 0 {
		t.speed = float64(bytes-t.lastBytes) / secs
	}
	t.lastBytes = bytes
	return t.reportLocked(name, bytes, t.speed)
}

type failures struct {
	errors       int
	consecErr    int
	lastErr      error
	backoffUntil time.Time
}

// fail records a failed request and returns the mirror's next state: state when
// the failure decides it (dropped, quarantined, ...); for a transient one ("")
// MirrorDropped after MaxRetries in a row, else MirrorBackoff until backoffUntil
// (retryAfter when the server asked, capped).
func (f *failures) fail(g *getter, err error, state MirrorState, retryAfter time.Duration) MirrorState {
	f.errors++
	f.lastErr = err
	if state != "" {
		return state
	}
	if f.consecErr++; f.consecErr >= g.o.MaxRetries {
		return MirrorDropped
	}
	f.backoffUntil = time.Now().Add(g.backoff(f.consecErr, retryAfter))
	return MirrorBackoff
}

// mirrorFailLocked records a failed request of m. fatal drops the mirror; otherwise
// it backs off (retryAfter when the server asked, capped) and is dropped after
// MaxRetries consecutive failures.
func (j *job) mirrorFailLocked(m *mirror, err error, state MirrorState, retryAfter time.Duration) {
	if state = m.fail(j.g, err, state, retryAfter); state == MirrorBackoff {
		m.state = state
		j.g.o.Logger.Debug("mirror backs off", "file", j.name, "mirror", m.name, "until", m.backoffUntil, "err", err)
		return
	}
	if m.state == state {
		return
	}
	m.state = state
	j.g.o.Logger.Info("mirror state", "file", j.name, "mirror", m.name, "state", state, "err", err)
	j.g.emit(Event{Kind: EventMirrorState, File: j.name, Mirror: m.name, State: state, Err: err, Piece: -1})
	// Its other requests are pointless now, except that a quarantined mirror that has
	// also sent good pieces finishes the piece each request is receiving: it is
	// verified like any other (kept only if its hash matches), and cutting it would
	// throw its bytes away (bench/peers.sh corrupt: waste 1.028-1.035 before, with up
	// to PerMirror partial pieces lost at the quarantine). Nothing after that piece is
	// read. A mirror that has sent nothing good is cut at once: its pieces in flight
	// are most likely bad too (every piece corrupt: waste 1.039 when they finished).
	finish := state == MirrorQuarantined && m.good > 0
	for b := range j.assigns {
		if b.m != m || (b.seq && state == MirrorNoRange) {
			continue
		}
		if finish && b.streaming && !b.seq && !b.race {
			for i := b.lo + 1; i < b.end; i++ {
				j.releaseLocked(i)
			}
			b.end = min(b.end, b.lo+1)
			continue
		}
		b.cancel(errStopped)
	}
	j.broadcastLocked()
}

// progress emits an EventProgress with each mirror's speed over the last interval.
func (j *job) progress(dt time.Duration) {
	j.mu.Lock()
	ev := Event{Kind: EventProgress, File: j.name, Size: j.size, Pieces: j.n, Piece: -1}
	for _, m := range j.mirrors {
		ev.Mirrors = append(ev.Mirrors, m.progressLocked(m.name, m.bytes.Load(), dt.Seconds()))
		ev.Speed += m.speed
	}
	ev.Done = j.doneBytesLocked()
	j.mu.Unlock()
	j.g.emit(ev)
}

func (j *job) doneBytesLocked() int64 {
	if j.nhave == j.n {
		return j.size
	}
	var d int64
	for i, h := range j.have {
		if h {
			_, l := j.pieceRange(i)
			d += l
		}
	}
	return d
}

func (j *job) mirrorReportLocked(m *mirror, speed float64) MirrorReport {
	return m.reportLocked(m.name, m.bytes.Load(), speed)
}
