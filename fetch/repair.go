package fetch

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
)

// ErrNotRepairable: the file cannot be repaired piece by piece: the metalink gives no
// supported piece hashes (a damaged piece could not be found, nor a fetched one checked
// before it is written in place) or no size. Download it again with Get and Overwrite.
var ErrNotRepairable = errors.New("cannot be repaired piece by piece")

// Bounds of one repair request.
const (
	// repairMaxRanges is the most byte ranges asked in one multi-range request (the
	// publish handler allows 64, Apache 200).
	repairMaxRanges = 32
	// repairMinRequest and repairMaxRequest bound the bytes of one request: the bad
	// bytes not yet assigned are shared among the free connection slots, but a request
	// is never cut below repairMinRequest (fewer, bigger requests are the point of
	// multi-range requests) nor above repairMaxRequest.
	repairMinRequest = 4 << 20
	repairMaxRequest = 16 << 20
)

// RepairReport is what Repair found and did for one file. Byte counts are body bytes.
type RepairReport struct {
	// Name is the metalink name of the file; Path the local file repaired.
	Name string `json:"name"`
	Path string `json:"path"`
	// Size is the metalink size; FoundSize the size of the file before the repair.
	Size      int64 `json:"size"`
	FoundSize int64 `json:"found_size"`
	// State is "good" (nothing to repair, nothing fetched), "repaired" or "failed".
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// PieceType, PieceLength and Pieces describe the piece-hash set used.
	PieceType   string `json:"piece_type,omitempty"`
	PieceLength int64  `json:"piece_length,omitempty"`
	Pieces      int    `json:"pieces"`
	// BadPieces are the pieces found bad or missing by the scan; BadBytes their total
	// length (a missing tail included); BadRanges the same as merged byte ranges.
	BadPieces []int          `json:"bad_pieces,omitempty"`
	BadBytes  int64          `json:"bad_bytes"`
	BadRanges []verify.Range `json:"bad_ranges,omitempty"`
	// Missing is the number of bytes the file lacked at its end (extended by the
	// repair); Truncated the number of bytes beyond the metalink size that were cut off.
	Missing   int64 `json:"missing,omitempty"`
	Truncated int64 `json:"truncated,omitempty"`
	// Repaired is the number of pieces fetched, verified and written; Unrepaired the
	// pieces that no mirror could supply (they keep their old content).
	Repaired   int   `json:"repaired"`
	Unrepaired []int `json:"unrepaired_pieces,omitempty"`
	// Bytes is the body bytes received from all mirrors (bad pieces and skipped gaps
	// included); Requests the requests sent; MultipartRequests those that asked for
	// several ranges at once.
	Bytes             int64 `json:"bytes"`
	Requests          int   `json:"requests"`
	MultipartRequests int   `json:"multipart_requests"`
	// Hash is the strongest whole-file hash that verified after the repair
	// ("sha-256:..."); HashChecked reports whether a whole-file hash was checked at all
	// (false when the metalink has only piece hashes).
	Hash        string         `json:"hash,omitempty"`
	HashChecked bool           `json:"hash_checked"`
	Mirrors     []MirrorReport `json:"mirrors,omitempty"`
	Duration    time.Duration  `json:"duration_ns"`
}

// Repair refetches only the bad or missing pieces of the existing local copy of f and
// writes them into it in place.
//
// The file is opts.Output (when set) or f.Name, relative to opts.Dir and opened through
// os.Root; it must exist (else an error wrapping fs.ErrNotExist: use Get) and be a
// regular file (a symlink is refused, never followed). It is hash-scanned in one pass
// (verify.File: every piece of the strongest piece-hash set and every whole-file
// hash); a file that is already good is left alone with no network request. A file
// shorter than f.Size has its missing tail counted as bad pieces (the repair extends
// it); a longer one is truncated to f.Size once every piece is good.
//
// The bad pieces are fetched from f's http(s) mirrors in preference order (at most
// PerMirror requests at once per mirror host, however many of its URLs), several
// bad byte ranges per request (multipart/byteranges), each piece hash-verified before
// it is written at its offset; a file without piece hashes is refused with
// ErrNotRepairable. At the end the file is fsynced and every whole-file hash checked
// again (ErrVerify if one fails). When some piece could not be obtained from any
// mirror the error wraps ErrNoSource (and a *PieceError for the first such piece);
// the pieces that were repaired stay repaired.
//
// Options used: Dir, Output, Client, Connections, PerMirror, MaxMirrors, Location,
// LimitRate, MirrorLimitRate, MaxBadPieces, MaxRetries, MaxRetryAfter,
// ConnectTimeout, LowSpeedTime, LowSpeedLimit, RequireStrongHash, UserAgent, OnEvent
// and Logger. The report is never nil.
func Repair(ctx context.Context, f *metalink.File, opts Options) (*RepairReport, error) {
	start := time.Now()
	g := newGetter(opts)
	rep := &RepairReport{State: "failed"}
	if f == nil {
		return rep, ErrNoFiles
	}
	name := f.Name
	if g.o.Output != "" {
		if err := checkName(g.o.Output); err != nil {
			return rep, fmt.Errorf("%w: output name %q: %v", ErrUsage, g.o.Output, err)
		}
		name = g.o.Output
	}
	rep.Name, rep.Size = f.Name, f.Size
	rep.Path = filepath.Join(g.o.Dir, filepath.FromSlash(name))
	err := g.repair(ctx, f, name, rep)
	rep.Duration = time.Since(start)
	if err != nil {
		rep.State = "failed"
		rep.Error = err.Error()
		g.emit(Event{Kind: EventFileFailed, File: f.Name, Size: f.Size, Piece: -1, Err: err})
	}
	return rep, err
}

func (g *getter) repair(ctx context.Context, f *metalink.File, name string, rep *RepairReport) error {
	whole, pieces, err := g.hashPolicy(f)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	if f.Size < 0 {
		return fmt.Errorf("%s: %w: the metalink gives no size; use mlink get --overwrite", f.Name, ErrNotRepairable)
	}
	root, err := os.OpenRoot(g.o.Dir)
	if err != nil {
		return fmt.Errorf("%s: %w", rep.Path, err)
	}
	defer root.Close()
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w: nothing to repair; download it with mlink get", rep.Path, fs.ErrNotExist)
	} else if err != nil {
		return fmt.Errorf("%s: %w", rep.Path, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s: is a symbolic link; repair the file it points to instead", rep.Path)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%v)", rep.Path, fi.Mode().Type())
	}
	// The same lock as Get: a download and a repair of one output, or two repairs,
	// never write it at the same time.
	lock, err := journalLock(root, name)
	if err != nil {
		return fmt.Errorf("%s: %w", rep.Path, err)
	}
	defer lock.release()
	out, err := root.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", rep.Path, err)
	}
	defer out.Close()
	before := fi
	if fi, err = out.Stat(); err != nil {
		return fmt.Errorf("%s: %w", rep.Path, err)
	}
	if !os.SameFile(before, fi) {
		return fmt.Errorf("%s: replaced while being opened; run the repair again", rep.Path)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%v)", rep.Path, fi.Mode().Type())
	}
	rep.FoundSize = fi.Size()

	res, err := verify.File(ctx, out, fi.Size(), f, verify.Options{})
	if err != nil {
		return fmt.Errorf("%s: scanning: %w", rep.Path, err)
	}
	if res.Good {
		rep.State = "good"
		rep.Hash, rep.HashChecked = strongestMatch(res)
		rep.PieceType, rep.PieceLength, rep.Pieces = res.PieceType, res.PieceLength, res.PieceCount
		g.emit(Event{Kind: EventFileDone, File: f.Name, Size: f.Size, Done: f.Size, Pieces: res.PieceCount, Piece: -1, Message: "already good"})
		return nil
	}
	if pieces == nil || res.PieceType == "" || res.PieceType != pieces.Type {
		return fmt.Errorf("%s: %w: the metalink has no supported piece hashes, so the damage cannot be located "+
			"nor fetched pieces checked before they are written in place; use mlink get --overwrite", rep.Path, ErrNotRepairable)
	}
	rep.PieceType, rep.PieceLength, rep.Pieces = res.PieceType, res.PieceLength, res.PieceCount
	rep.BadPieces, rep.BadRanges, rep.BadBytes = res.BadPieces, res.BadRanges, res.BadBytes()
	rep.Missing = res.Missing
	wholeOK := res.Missing == 0
	for _, h := range res.Hashes {
		wholeOK = wholeOK && h.Match
	}
	if len(res.BadPieces) == 0 && !wholeOK {
		// Every piece matches but a whole-file hash does not (over the first Size bytes
		// of a longer file, too): the metalink contradicts itself, or a weak piece hash
		// collided; nothing here can fix that, and nothing is changed.
		return fmt.Errorf("%s: %w: every piece matches its hash but the whole-file hash does not; "+
			"the metalink is inconsistent (try mlink get --overwrite)", rep.Path, ErrVerify)
	}

	if len(res.BadPieces) > 0 {
		mirrors := g.orderMirrors(f)
		r := newRepairer(g, f, out, pieces, mirrors, res.BadPieces)
		g.emit(Event{Kind: EventFileStart, File: f.Name, Size: f.Size, Done: f.Size - rep.BadBytes, Pieces: r.n, Piece: -1})
		runErr := r.run(ctx)
		r.report(rep)
		// Whatever happened, what was written is durable before we report it.
		if err := out.Sync(); err != nil && runErr == nil {
			runErr = fmt.Errorf("%s: fsync: %w", rep.Path, err)
		}
		if runErr != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", rep.Path, ctx.Err())
			}
			return runErr
		}
	}
	if fi, err := out.Stat(); err == nil && fi.Size() > f.Size {
		if err := out.Truncate(f.Size); err != nil {
			return fmt.Errorf("%s: truncating to %d bytes: %w", rep.Path, f.Size, err)
		}
		rep.Truncated = fi.Size() - f.Size
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("%s: fsync: %w", rep.Path, err)
	}
	// The final word: every whole-file hash (and every piece) over the repaired file.
	res, err = verify.File(ctx, out, f.Size, f, verify.Options{})
	if err != nil {
		return fmt.Errorf("%s: final check: %w", rep.Path, err)
	}
	rep.Hash, rep.HashChecked = strongestMatch(res)
	if !res.Good {
		what := "the whole-file hash does"
		if len(res.BadPieces) > 0 {
			what = fmt.Sprintf("%d pieces do", len(res.BadPieces))
		}
		return &PieceError{File: f.Name, Index: -1, Err: fmt.Errorf("%w: after the repair %s not match in %s; "+
			"was it changed meanwhile, or is the metalink inconsistent? (try mlink get --overwrite)", ErrVerify, what, rep.Path)}
	}
	rep.State = "repaired"
	if len(whole) == 0 && rep.Hash == "" {
		rep.Hash = pieces.Type + " pieces"
	}
	g.emit(Event{Kind: EventFileDone, File: f.Name, Size: f.Size, Done: f.Size, Pieces: rep.Pieces, Piece: -1, Message: "repaired"})
	return nil
}

// strongestMatch returns "type:value" of the strongest whole-file hash that matched,
// and whether any whole-file hash was checked.
func strongestMatch(res *verify.Result) (string, bool) {
	best, bestS := "", 0
	for _, h := range res.Hashes {
		if h.Match {
			if s := metalink.HashStrength(h.Type); s > bestS {
				best, bestS = h.Type+":"+strings.ToLower(h.Want), s
			}
		}
	}
	return best, len(res.Hashes) > 0
}

// rmirror is a mirror as the repairer uses it.
type rmirror struct {
	src *mirror // its immutable fields and atomic byte counter only (not its tally)

	// guarded by repairer.mu
	tally          // this repair's own (src.tally belongs to downloads)
	active    int  // requests in flight
	single    bool // answered a multi-range request with one part: single ranges only
	multipart int
	seqUsed   bool // range-less: its one sequential pass was made (repair_sequential.go)
}

func (m *rmirror) usableLocked() bool {
	return m.state != MirrorDropped && m.state != MirrorQuarantined && m.state != MirrorNoRange && m.state != MirrorIgnored
}

// repairer fetches a set of bad pieces of one file into it.
type repairer struct {
	g       *getter
	name    string // metalink name, for errors and events
	size    int64
	plen    int64
	n       int
	ptype   string
	psums   [][]byte
	out     partFile
	mirrors []*rmirror

	mu        sync.Mutex
	need      []bool // still to be repaired
	busy      []bool // asked in a request in flight
	badFrom   []uint64
	fails     []int
	gaveUp    []bool
	nneed     int
	needBytes int64 // bytes of the pieces in need
	repaired  int
	active    int
	// hostActive counts the requests in flight per mirror host (scheme, host, port):
	// mirror URLs on one host share PerMirror (SECURITY.md case 27), as in Get.
	hostActive map[*hostState]int
	wake       chan struct{}
	fatal      error // a disk error: ends the repair
	badPieces  int
	start      time.Time
	wg         sync.WaitGroup
}

func newRepairer(g *getter, f *metalink.File, out partFile, pieces *metalink.Pieces, ms []*mirror, bad []int) *repairer {
	r := &repairer{g: g, name: f.Name, size: f.Size, plen: pieces.Length, ptype: pieces.Type, out: out, start: time.Now()}
	r.n = int(pieces.Count(f.Size))
	for _, s := range pieces.Hashes {
		b, _ := hex.DecodeString(s)
		r.psums = append(r.psums, b)
	}
	for _, m := range ms {
		r.mirrors = append(r.mirrors, &rmirror{src: m, tally: tally{state: MirrorIdle}})
	}
	r.need = make([]bool, r.n)
	r.busy = make([]bool, r.n)
	r.badFrom = make([]uint64, r.n)
	r.fails = make([]int, r.n)
	r.gaveUp = make([]bool, r.n)
	for _, p := range bad {
		if p >= 0 && p < r.n && !r.need[p] {
			r.need[p] = true
			r.nneed++
			_, l := r.pieceRange(p)
			r.needBytes += l
		}
	}
	r.wake = make(chan struct{})
	r.hostActive = map[*hostState]int{}
	return r
}

func (r *repairer) pieceRange(i int) (off, length int64) {
	off = int64(i) * r.plen
	return off, min(r.plen, r.size-off)
}

func (r *repairer) broadcastLocked() {
	close(r.wake)
	r.wake = make(chan struct{})
}

// run dispatches requests until every bad piece is repaired, no mirror can supply the
// rest, a disk error happens or ctx ends; it returns after every request ended.
func (r *repairer) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer func() {
		cancel()
		r.wg.Wait()
	}()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	tick := time.NewTicker(r.g.o.ProgressInterval)
	defer tick.Stop()
	last := time.Now()
	defer func() { r.progress(time.Since(last)) }()
	for {
		r.mu.Lock()
		if r.fatal != nil {
			err := r.fatal
			r.mu.Unlock()
			return err
		}
		if r.nneed == 0 {
			r.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			r.mu.Unlock()
			return ctx.Err()
		}
		next := r.dispatchLocked(ctx)
		if r.active == 0 && next.IsZero() && !r.sequentialLocked(ctx) {
			err := r.noSourceErrLocked()
			r.mu.Unlock()
			return err
		}
		wake := r.wake
		r.mu.Unlock()
		var tc <-chan time.Time
		if !next.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(next))
			} else {
				timer.Reset(time.Until(next))
			}
			tc = timer.C
		}
		select {
		case <-wake:
		case <-tc:
		case <-ctx.Done():
		case now := <-tick.C:
			r.progress(now.Sub(last))
			last = now
		}
		if timer != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// dispatchLocked starts requests on free slots, mirrors in preference order. It
// returns the earliest end of a backoff that keeps a mirror from taking work that only
// it could do now (zero when none).
func (r *repairer) dispatchLocked(ctx context.Context) time.Time {
	var next time.Time
	now := time.Now()
	for _, m := range r.mirrors {
		if !m.usableLocked() {
			continue
		}
		for r.active < r.g.o.Connections && m.active < m.src.maxConns && r.hostActive[m.src.host] < r.g.o.PerMirror {
			if m.state == MirrorBackoff && now.Before(m.backoffUntil) {
				if r.hasWorkLocked(m) && (next.IsZero() || m.backoffUntil.Before(next)) {
					next = m.backoffUntil
				}
				break
			}
			ranges := r.pickLocked(m)
			if len(ranges) == 0 {
				break
			}
			if m.state != MirrorActive {
				m.state = MirrorActive
			}
			r.beginLocked(m, ranges)
			if len(ranges) > 1 {
				m.multipart++
			}
			r.wg.Add(1)
			go r.request(ctx, m, ranges)
		}
	}
	return next
}

// beginLocked records a request of m for runs: its pieces are busy, and it counts
// against the connection budgets.
func (r *repairer) beginLocked(m *rmirror, runs []pieceRun) {
	for _, rg := range runs {
		for p := rg.lo; p < rg.end; p++ {
			r.busy[p] = true
		}
	}
	m.active++
	r.active++
	r.hostActive[m.src.host]++
	m.requests++
}

// pieceRun is the pieces [lo, end) asked as one byte range.
type pieceRun struct{ lo, end int }

func (r *repairer) eligibleLocked(m *rmirror, p int) bool {
	return r.need[p] && !r.busy[p] && !r.gaveUp[p] && r.badFrom[p]&(1<<m.src.idx) == 0
}

func (r *repairer) hasWorkLocked(m *rmirror) bool {
	for p := range r.n {
		if r.eligibleLocked(m, p) {
			return true
		}
	}
	return false
}

// pickLocked chooses the pieces of m's next request: the lowest runs of adjacent
// eligible pieces, each run one byte range, at most repairMaxRanges ranges (one when
// m only does single ranges) and a byte budget that shares the unassigned bad bytes
// among the free slots within [repairMinRequest, repairMaxRequest] (at least a piece).
func (r *repairer) pickLocked(m *rmirror) []pieceRun {
	var pending int64
	for p := range r.n {
		if r.need[p] && !r.busy[p] && !r.gaveUp[p] {
			_, l := r.pieceRange(p)
			pending += l
		}
	}
	slots := max(1, r.g.o.Connections-r.active)
	budget := min(max(pending/int64(slots), repairMinRequest), repairMaxRequest)
	maxRanges := repairMaxRanges
	if m.single {
		maxRanges = 1
	}
	var runs []pieceRun
	var bytes int64
	for p := 0; p < r.n; p++ {
		if !r.eligibleLocked(m, p) {
			continue
		}
		_, l := r.pieceRange(p)
		if bytes > 0 && bytes+l > budget {
			break
		}
		if k := len(runs); k > 0 && runs[k-1].end == p {
			runs[k-1].end = p + 1
		} else {
			if k == maxRanges {
				break
			}
			runs = append(runs, pieceRun{p, p + 1})
		}
		bytes += l
	}
	return runs
}

// noSourceErrLocked says which pieces no mirror could supply.
func (r *repairer) noSourceErrLocked() error {
	var left []int
	for p := range r.n {
		if r.need[p] {
			left = append(left, p)
		}
	}
	var last error
	lastFrom := ""
	for _, m := range r.mirrors {
		if m.lastErr != nil {
			last, lastFrom = m.lastErr, m.src.name
		}
	}
	why := "no http or https mirror"
	if len(r.mirrors) > 0 {
		why = "every mirror failed, was dropped, ignores Range or sent bad data for them"
	}
	if last != nil {
		why += fmt.Sprintf(" (last error, from %s: %v)", lastFrom, last)
	}
	which := "pieces " + formatPieceList(left)
	if len(left) == 1 {
		which = "piece " + formatPieceList(left)
	}
	msg := fmt.Sprintf("%s: %d of %d bad pieces could not be repaired (%s): %v: %s; ", r.name, len(left), len(left)+r.repaired, which, ErrNoSource, why)
	if r.repaired > 0 {
		msg += fmt.Sprintf("%d other pieces were repaired; ", r.repaired)
	}
	msg += "the file is no worse than before"
	return &repairNoSourceError{msg: msg, pe: &PieceError{File: r.name, Index: left[0], Err: ErrNoSource}}
}

// repairNoSourceError is the error of a repair that could not obtain some pieces: it
// wraps ErrNoSource and a *PieceError for the first such piece.
type repairNoSourceError struct {
	msg string
	pe  *PieceError
}

func (e *repairNoSourceError) Error() string   { return e.msg }
func (e *repairNoSourceError) Unwrap() []error { return []error{ErrNoSource, e.pe} }

// formatPieceList writes sorted piece indexes as "1-3, 7, 9-12", at most 20 items.
func formatPieceList(ps []int) string {
	sort.Ints(ps)
	var b strings.Builder
	items := 0
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		if items == 20 {
			fmt.Fprintf(&b, ", ... (%d more)", len(ps)-i)
			break
		}
		if items > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(ps[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(ps[j]))
		}
		items++
		i = j + 1
	}
	return b.String()
}

// release ends a request: the pieces it did not deliver go back to the pool; err (nil
// for a clean end) is the mirror's failure, with the state it implies ("" =
// transient) and a Retry-After delay. pieceFail marks the undelivered pieces of a
// failed request as having failed once (a per-piece bound on retries).
func (r *repairer) release(m *rmirror, runs []pieceRun, err error, state MirrorState, retryAfter time.Duration, purposeful bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rg := range runs {
		for p := rg.lo; p < rg.end; p++ {
			if !r.busy[p] {
				continue
			}
			r.busy[p] = false
			if err != nil && !purposeful && r.need[p] {
				r.fails[p]++
				if r.fails[p] > 3*len(r.mirrors)+8 {
					r.gaveUp[p] = true
				}
			}
		}
	}
	m.active--
	r.active--
	r.hostActive[m.src.host]--
	if err != nil && !purposeful {
		r.mirrorFailLocked(m, err, state, retryAfter)
	} else if err == nil {
		m.consecErr = 0
	}
	r.broadcastLocked()
}

func (r *repairer) mirrorFailLocked(m *rmirror, err error, state MirrorState, retryAfter time.Duration) {
	if state = m.fail(r.g, err, state, retryAfter); state == MirrorBackoff {
		m.state = state
		r.g.o.Logger.Debug("repair: mirror backs off", "file", r.name, "mirror", m.src.name, "until", m.backoffUntil, "err", err)
		return
	}
	r.setStateLocked(m, state, err)
}

func (r *repairer) setStateLocked(m *rmirror, state MirrorState, err error) {
	if m.state == state {
		return
	}
	m.state = state
	r.g.o.Logger.Info("repair: mirror state", "file", r.name, "mirror", m.src.name, "state", state, "err", err)
	r.g.emit(Event{Kind: EventMirrorState, File: r.name, Mirror: m.src.name, State: state, Err: err, Piece: -1})
}

// pieceDone writes verified piece p at its offset (never a piece that is not bad).
func (r *repairer) pieceDone(m *rmirror, p int, buf []byte) error {
	off, _ := r.pieceRange(p)
	r.mu.Lock()
	if !r.need[p] || r.fatal != nil {
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	if _, err := r.out.WriteAt(buf, off); err != nil {
		err = fmt.Errorf("%s: writing piece %d: %w", r.name, p, err)
		r.mu.Lock()
		if r.fatal == nil {
			r.fatal = err
		}
		r.broadcastLocked()
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	r.need[p] = false
	r.nneed--
	r.needBytes -= int64(len(buf))
	r.repaired++
	m.good += int64(len(buf))
	m.consecErr = 0
	done := r.size - r.needBytes
	r.mu.Unlock()
	r.g.emit(Event{Kind: EventPieceDone, File: r.name, Size: r.size, Done: done, Pieces: r.n, Piece: p, Mirror: m.src.name})
	return nil
}

// pieceBad records that m sent piece p with the wrong hash; it reports whether m is
// now quarantined.
func (r *repairer) pieceBad(m *rmirror, p int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.badFrom[p] |= 1 << m.src.idx
	r.badPieces++
	if quarantine, err := m.badPieceLocked(r.g, "repair: bad piece", r.name, m.src.name, r.n, p); quarantine {
		r.setStateLocked(m, MirrorQuarantined, err)
		return true
	}
	return false
}

// progress emits an EventProgress: the file's good bytes and each mirror's speed over
// the last dt.
func (r *repairer) progress(dt time.Duration) {
	if r.g.o.OnEvent == nil {
		return
	}
	r.mu.Lock()
	ev := Event{Kind: EventProgress, File: r.name, Size: r.size, Done: r.size - r.needBytes, Pieces: r.n, Piece: -1}
	for _, m := range r.mirrors {
		ev.Mirrors = append(ev.Mirrors, m.progressLocked(m.src.name, m.src.bytes.Load(), dt.Seconds()))
		ev.Speed += m.speed
	}
	r.mu.Unlock()
	r.g.emit(ev)
}

func (r *repairer) mirrorReportLocked(m *rmirror, speed float64) MirrorReport {
	return m.reportLocked(m.src.name, m.src.bytes.Load(), speed)
}

// report fills the fetch part of rep.
func (r *repairer) report(rep *RepairReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Repaired = r.repaired
	rep.Unrepaired = nil
	for p := range r.n {
		if r.need[p] {
			rep.Unrepaired = append(rep.Unrepaired, p)
		}
	}
	secs := time.Since(r.start).Seconds()
	for _, m := range r.mirrors {
		mr := r.mirrorReportLocked(m, 0)
		if secs > 0 {
			mr.Speed = float64(mr.Bytes) / secs
		}
		rep.Mirrors = append(rep.Mirrors, mr)
		rep.Bytes += mr.Bytes
		rep.Requests += m.requests
		rep.MultipartRequests += m.multipart
	}
}
