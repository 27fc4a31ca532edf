package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mlinkdev/mlink/internal/httphdr"
)

// transfer runs one request and streams its pieces: each is read into a buffer
// (at most the asked bytes), hashed as it arrives, verified, and only then written.
func (j *job) transfer(a *assignment) {
	m := a.m
	err, state, retryAfter := j.doTransfer(a)
	j.mu.Lock()
	defer j.mu.Unlock()
	// The piece being received when the request ended counts as a failure of that piece
	// unless the request was stopped on purpose.
	cause := context.Cause(a.ctx)
	purposeful := errors.Is(cause, errLostRace) || errors.Is(cause, errStopped) || j.finished
	if err != nil && !purposeful && state == MirrorChanged {
		j.changedLocked(m, err)
	} else if err != nil && !purposeful {
		if a.lo < a.end && !a.seq {
			j.fails[a.lo]++
			if j.fails[a.lo] > 3*len(j.mirrors)+8 {
				j.finishLocked(&PieceError{File: j.name, Index: a.lo, Mirror: m.name, Err: errors.Join(ErrNoSource, err)})
			}
		}
		j.mirrorFailLocked(m, err, state, retryAfter)
	} else if err != nil && errors.Is(cause, errLostRace) {
		j.g.o.Logger.Debug("lost race", "file", j.name, "mirror", m.name, "piece", a.lo)
	}
	j.endAssignLocked(a)
}

// changedLocked handles mirror m whose file changed (err wraps ErrChanged). With piece
// hashes it is dropped: nothing it sends could verify. Without them the chunks held
// cannot be told apart from a version of the file that no longer exists, so unless
// nothing is held the job restarts from zero (errRestart; at most twice): m is dropped
// when other mirrors are left, and otherwise, being the file's only source, is used
// again with its new version (its validators forgotten).
func (j *job) changedLocked(m *mirror, err error) {
	others := false
	for _, o := range j.mirrors {
		if o != m && o.usableLocked() {
			others = true
		}
	}
	if j.ptype != "" || (others && j.nhave == 0) || j.restarts >= 2 {
		j.mirrorFailLocked(m, err, MirrorChanged, 0)
		return
	}
	if others {
		j.mirrorFailLocked(m, err, MirrorChanged, 0)
	} else {
		m.errors++
		m.lastErr = err
		m.val = journalValidator{}
		if j.jn != nil {
			j.jn.setValidator(m.url, journalValidator{})
		}
	}
	if j.nhave == 0 {
		return // nothing of the old version held: go on with the new one
	}
	j.g.o.Logger.Info("source changed; discarding every chunk held and restarting from zero",
		"file", j.name, "mirror", m.name, "chunks", j.nhave, "err", err)
	j.finishLocked(errRestart)
}

// doTransfer returns nil when the request ended normally (all pieces, or stopped at a
// piece boundary), else the error, the mirror state it implies ("" = transient) and
// a Retry-After delay.
func (j *job) doTransfer(a *assignment) (error, MirrorState, time.Duration) {
	m := a.m
	j.mu.Lock()
	lo, end := a.lo, a.end
	j.mu.Unlock()
	off, _ := j.pieceRange(lo)
	var length int64
	if a.seq {
		off, length = 0, j.size
	} else {
		off += a.from // the start of piece lo is on disk already
		lastOff, lastLen := j.pieceRange(end - 1)
		length = lastOff + lastLen - off
	}

	wd := newWatchdog(a.cancel, j.g.o.LowSpeedTime, j.lowSpeedLimit())
	defer wd.stop()

	req, err := http.NewRequestWithContext(a.ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return err, MirrorDropped, 0
	}
	j.mu.Lock()
	val := m.val
	j.mu.Unlock()
	ifRange := ""
	if !a.seq {
		req.Header.Set("Range", httphdr.FormatRange(off, length))
		if ifRange = val.ifRange(); ifRange != "" {
			req.Header.Set("If-Range", ifRange)
		}
	}
	resp, state, err := j.g.do(a.ctx, req)
	if err != nil {
		return err, state, 0
	}
	defer resp.Body.Close()
	if ifRange != "" && resp.StatusCode == http.StatusOK {
		// The body is the new version: not one byte of it is read.
		return fmt.Errorf("%w: If-Range %s answered with 200 (the whole, different file)", ErrChanged, ifRange), MirrorChanged, 0
	}
	if err, state, ra := j.checkResponse(resp, a.seq, off, length); err != nil {
		return err, state, ra
	}
	if !a.seq {
		if err := j.checkValidators(m, val, resp); err != nil {
			return err, MirrorChanged, 0
		}
	}
	wd.started()

	var one [1]byte
	for p := lo; ; p++ {
		j.mu.Lock()
		if a.seq {
			if p >= j.n {
				j.mu.Unlock()
				break
			}
			a.lo, a.end = p, j.n
		} else {
			if p >= a.end {
				j.mu.Unlock()
				if p == end {
					// Everything asked was read: find EOF so the connection is reused.
					if n, _ := resp.Body.Read(one[:]); n > 0 {
						j.g.o.Logger.Debug("mirror sent more than asked; ignored", "mirror", m.name)
					}
				}
				return nil, "", 0
			}
			if j.have[p] || j.claimed[p] {
				j.mu.Unlock()
				return nil, "", 0 // someone else delivered it: stop here
			}
		}
		a.streaming, a.pos, a.loStart = true, 0, time.Now()
		j.mu.Unlock()

		skip := a.seq && j.pieceDone(p)
		from := a.fromFor(p)
		buf, written, ok, err := j.readPiece(a, resp.Body, p, skip, from, wd)
		if err != nil {
			if a.seq && errors.Is(err, io.ErrUnexpectedEOF) && resp.ContentLength < 0 {
				err = fmt.Errorf("%w: body shorter than the file", ErrSizeMismatch)
				return err, MirrorDropped, 0
			}
			return err, "", 0
		}
		// The piece stays held until it is marked done (or found bad): released
		// earlier, another worker would take it as unassigned in between.
		pieceEnd := func() {
			j.mu.Lock()
			a.streaming = false
			if !a.seq {
				j.releaseLocked(p)
				a.lo = p + 1
			}
			j.mu.Unlock()
		}
		if skip {
			j.putBuf(buf)
			pieceEnd()
			continue
		}
		if !ok && from > 0 {
			// The prefix from the interrupted run (source unknown, maybe never fsynced)
			// or this response is wrong: forget the prefix and fetch the whole piece,
			// blaming nobody.
			j.putBuf(buf)
			j.mu.Lock()
			j.partial[p] = 0
			j.mu.Unlock()
			pieceEnd()
			j.g.o.Logger.Info("piece resumed from its partial bytes failed its hash; fetching it whole", "file", j.name, "piece", p, "mirror", m.name)
			return nil, "", 0
		}
		if !ok {
			j.putBuf(buf)
			// Marked bad from m before it is released: released first, another worker
			// of m could take it back in between and fetch the same bad copy again.
			quarantined := j.badPiece(a, p)
			pieceEnd()
			if quarantined {
				return nil, "", 0 // the error is recorded
			}
			if !a.seq {
				return nil, "", 0 // never trust the rest of this response
			}
			continue
		}
		err = j.completePiece(a, p, buf, written)
		pieceEnd()
		if err != nil {
			return err, "", 0
		}
	}
	return nil, "", 0
}

func (j *job) pieceDone(p int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.have[p] || j.claimed[p]
}

// streamBatch is how many received bytes of a piece are written to the part file at a
// time while the piece streams (so that a killed run leaves them for the next one).
// Pieces up to this size are written whole once verified. 256 KiB costs no measurable
// CPU in BenchmarkGet (64 KiB cost about 9% more in the workers).
const streamBatch = 256 << 10

// readPiece reads piece p (exactly its length) from body, charging the rate limiters
// after each read; once it is whole, the file's hashing goroutine checks its hash
// (wholeHasher.verify, paired with other hashing there). ok reports whether the piece
// hash matched (always true without piece hashes). With skip the bytes are read and discarded.
//
// from > 0: the first from bytes of the piece are taken from the part file (left by an
// interrupted run) and only the rest is read from body. With piece hashes, the request
// that owns the piece (not an end-game racer, not the sequential fallback) also writes
// what it receives to the part file every streamBatch bytes (streamWrite), unverified:
// the piece only counts once its hash verified, but a run killed in the middle of it
// leaves its first bytes for the next one (see findPartials). written is how many
// bytes of the piece are on disk that way (the prefix included).
func (j *job) readPiece(a *assignment, body io.Reader, p int, skip bool, from int64, wd *watchdog) (buf []byte, written int64, ok bool, err error) {
	off, length := j.pieceRange(p)
	buf = j.getBuf()
	check := j.ptype != "" && !skip
	var got int64
	if from > 0 {
		if _, err := j.out.ReadAt(buf[:from], off); err != nil {
			j.putBuf(buf)
			return nil, 0, false, fmt.Errorf("piece %d: reading its first %d bytes back: %w", p, from, err)
		}
		got, written = from, from
	}
	stream := check && !a.race && !a.seq
	chunk := j.g.chunk(a.m)
	for got < length {
		want := min(int64(chunk), length-got)
		n, rerr := body.Read(buf[got : got+want])
		if n > 0 {
			got += int64(n)
			a.m.bytes.Add(int64(n))
			j.g.bytes.Add(int64(n))
			wd.add(n)
			j.mu.Lock()
			a.pos = got
			j.mu.Unlock()
			if stream && got-written >= streamBatch && got < length {
				var werr error
				if stream, werr = j.streamWrite(p, buf[written:got], off+written); werr != nil {
					rerr = werr
				} else if stream {
					written = got
				}
			}
			if werr := j.g.wait(a.ctx, a.m, n); werr != nil && rerr == nil {
				rerr = werr
			}
		}
		if rerr != nil && got < length {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			c := context.Cause(a.ctx)
			if c != nil && c != context.Canceled {
				rerr = c
			}
			if written > from && !errors.Is(c, errLostRace) && !errors.Is(c, errStopped) && !errors.Is(c, context.Canceled) {
				// A failed response (short, reset, stalled) is rejected: what it streamed
				// must not become the prefix of a later resume (SECURITY.md rule 8).
				// Interruptions keep it: that is what it was written for.
				j.unstream(p, off+from, written-from)
			}
			j.putBuf(buf)
			return nil, 0, false, fmt.Errorf("piece %d: %w", p, rerr)
		}
	}
	if !check {
		return buf[:length], written, true, nil
	}
	ok = j.whole.verify(p, buf[:length], j.psums[p])
	if !ok && written > 0 {
		j.unstream(p, off, written) // bad data (or a bad prefix): discarded (rule 2)
	}
	return buf[:length], written, ok, nil
}

var zeros64K [64 << 10]byte

// unstream overwrites n streamed bytes of piece p at off with zeros, unless the piece
// was claimed meanwhile (its verified copy is then what counts).
func (j *job) unstream(p int, off, n int64) {
	for n > 0 {
		k := min(n, int64(len(zeros64K)))
		if ok, err := j.streamWrite(p, zeros64K[:k], off); !ok || err != nil {
			return
		}
		off, n = off+k, n-k
	}
}

// writeAt writes b at off in the part file, one write at a time: concurrent pwrite
// calls on one file contend for its inode lock in the kernel, where the waiters spin
// (about 10% of the CPU of an unthrottled four-mirror download in perf); waiting on
// a Go mutex parks them instead.
func (j *job) writeAt(b []byte, off int64) error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	_, err := j.out.WriteAt(b, off)
	return err
}

// streamWrite writes b, received but not yet verified bytes of piece p, at off in the
// part file. It reports false (and writes nothing) once another request claimed the
// piece; a write error ends the job (a disk error). The claimant of a piece waits for
// streaming writes in progress before it writes (completePiece), so a loser's late
// bytes never land over a verified piece.
func (j *job) streamWrite(p int, b []byte, off int64) (bool, error) {
	j.mu.Lock()
	if j.claimed[p] || j.have[p] || j.finished {
		j.mu.Unlock()
		return false, nil
	}
	j.streamW[p]++
	j.mu.Unlock()
	err := j.writeAt(b, off)
	j.mu.Lock()
	j.streamW[p]--
	if j.streamW[p] == 0 {
		j.wcond.Broadcast()
	}
	if err != nil {
		j.finishLocked(fmt.Errorf("writing %s: %w", j.name, err))
	}
	j.mu.Unlock()
	return err == nil, err
}

// completePiece writes a verified piece unless another copy won; the winner cancels
// the other requests that are receiving the same piece. written bytes at the start of
// buf are on disk already (streamed by this request, or a prefix from an earlier run).
func (j *job) completePiece(a *assignment, p int, buf []byte, written int64) error {
	m := a.m
	j.mu.Lock()
	if j.have[p] || j.claimed[p] || j.finished {
		j.mu.Unlock()
		j.putBuf(buf)
		return nil
	}
	j.claimed[p] = true
	for j.streamW[p] > 0 { // another request's unverified bytes still being written
		j.wcond.Wait()
	}
	j.mu.Unlock()
	off, _ := j.pieceRange(p)
	if err := j.writeAt(buf[written:], off+written); err != nil {
		j.mu.Lock()
		j.finishLocked(fmt.Errorf("writing %s: %w", j.name, err))
		j.mu.Unlock()
		j.putBuf(buf)
		return err
	}
	startWriteback(j.out, off, int64(len(buf)))
	j.mu.Lock()
	j.have[p] = true
	j.nhave++
	j.partial[p] = 0
	m.good += int64(len(buf))
	m.consecErr = 0
	if el := time.Since(a.loStart).Seconds(); el > 0 {
		sample := float64(int64(len(buf))-a.fromFor(p)) / el
		if m.connSpeed == 0 {
			m.connSpeed = sample
		} else {
			m.connSpeed = 0.7*m.connSpeed + 0.3*sample
		}
	}
	for b := range j.assigns {
		if b != a && b.lo == p { // receiving p, or still waiting for its response
			b.cancel(errLostRace)
		}
	}
	done := j.nhave == j.n
	doneBytes := int64(0)
	if j.g.o.OnEvent != nil {
		doneBytes = j.doneBytesLocked()
	}
	j.broadcastLocked()
	j.mu.Unlock()
	j.whole.add(p, buf)
	if j.sink != nil {
		j.sink.pieceWritten(p)
	}
	j.g.emit(Event{Kind: EventPieceDone, File: j.name, Size: j.size, Done: doneBytes, Pieces: j.n, Piece: p, Mirror: m.name})
	if done {
		j.mu.Lock()
		j.finishLocked(nil)
		j.mu.Unlock()
	}
	return nil
}

// badPiece records that m sent a piece that failed its hash; it reports whether m is
// now quarantined.
func (j *job) badPiece(a *assignment, p int) bool {
	m := a.m
	j.mu.Lock()
	defer j.mu.Unlock()
	j.badFrom[p] |= 1 << m.idx
	j.badPieces++
	if quarantine, err := m.badPieceLocked(j.g, "bad piece", j.name, m.name, j.n, p); quarantine {
		j.mirrorFailLocked(m, err, MirrorQuarantined, 0)
		return true
	}
	j.broadcastLocked()
	return false
}

// ifRange is the If-Range value for v: the strong ETag, else the Last-Modified date,
// else "" (nothing usable: no If-Range).
func (v journalValidator) ifRange() string {
	if v.ETag != "" {
		return v.ETag
	}
	return v.LastModified
}

// strongValidator extracts the validators of a 206 that If-Range may carry (RFC 9110
// 13.1.5): an ETag unless weak, and a Last-Modified only when at least one second
// before the response's Date.
func strongValidator(h http.Header) journalValidator {
	var v journalValidator
	if et := strings.TrimSpace(h.Get("ETag")); len(et) >= 2 && et[0] == '"' && et[len(et)-1] == '"' && !strings.ContainsAny(et[1:len(et)-1], "\"\r\n") {
		v.ETag = et
	}
	if lm := h.Get("Last-Modified"); lm != "" {
		t, err1 := http.ParseTime(lm)
		d, err2 := http.ParseTime(h.Get("Date"))
		if err1 == nil && err2 == nil && d.Sub(t) >= time.Second {
			v.LastModified = lm
		}
	}
	return v
}

// checkValidators compares a 206 with what mirror m said before (sent) and, on m's
// first good 206, remembers its validators (and records them in the resume journal).
// A different ETag (or, without one, a different Last-Modified) means the mirror's
// file changed although it answered the range (it ignored If-Range): ErrChanged.
func (j *job) checkValidators(m *mirror, sent journalValidator, resp *http.Response) error {
	if sent.ifRange() == "" {
		// Sent before anything was known; a concurrent request may have learnt it since.
		j.mu.Lock()
		sent = m.val
		j.mu.Unlock()
	}
	if sent.ETag != "" {
		if et := resp.Header.Get("ETag"); et != "" && et != sent.ETag {
			return fmt.Errorf("%w: ETag %s, earlier %s (If-Range ignored)", ErrChanged, et, sent.ETag)
		}
		return nil
	}
	if sent.LastModified != "" {
		if lm := resp.Header.Get("Last-Modified"); lm != "" && lm != sent.LastModified {
			return fmt.Errorf("%w: Last-Modified %s, earlier %s (If-Range ignored)", ErrChanged, lm, sent.LastModified)
		}
		return nil
	}
	v := strongValidator(resp.Header)
	if v.ifRange() == "" {
		return nil
	}
	j.mu.Lock()
	first := m.val.ifRange() == ""
	if first {
		m.val = v
	}
	j.mu.Unlock()
	if first && j.jn != nil {
		j.jn.setValidator(m.url, v)
	}
	return nil
}

// badResponse is an ErrBadResponse saying what was wrong.
func badResponse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadResponse, fmt.Sprintf(format, args...))
}

// errorStatus judges a response whose status is neither 200 nor 206: the error, the
// mirror state it implies ("" = transient: 429, 503 with its Retry-After, other 5xx)
// and the delay the server asked for. asked is the Range that was asked (for a 416).
func errorStatus(resp *http.Response, asked string) (error, MirrorState, time.Duration) {
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return fmt.Errorf("HTTP %s", resp.Status), "", retryAfter(resp.Header.Get("Retry-After"))
	case code == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("%w: 416 for %q", ErrSizeMismatch, clipHeader(asked)), MirrorDropped, 0
	case code >= 500:
		return fmt.Errorf("HTTP %s", resp.Status), "", 0
	default:
		return fmt.Errorf("HTTP %s", resp.Status), MirrorDropped, 0
	}
}

// checkEncoding refuses a body that is not sent as it is: a Content-Encoding other
// than identity, or one the transport decompressed (SECURITY.md rule 8).
func checkEncoding(resp *http.Response) error {
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return badResponse("Content-Encoding %q", ce)
	}
	if resp.Uncompressed {
		return badResponse("transparently decompressed body")
	}
	return nil
}

// checkResponse applies SECURITY.md rules 7 and 8 to the response headers.
func (j *job) checkResponse(resp *http.Response, seq bool, off, length int64) (error, MirrorState, time.Duration) {
	switch code := resp.StatusCode; code {
	case http.StatusPartialContent:
		if seq {
			return badResponse("206 to a request without Range"), MirrorDropped, 0
		}
	case http.StatusOK:
		// A whole body of another size is another file (rule 7): dropped at once,
		// whether or not a range was asked.
		if resp.ContentLength >= 0 && resp.ContentLength != j.size {
			return fmt.Errorf("%w: Content-Length %d, metalink size %d", ErrSizeMismatch, resp.ContentLength, j.size), MirrorDropped, 0
		}
		if !seq {
			return fmt.Errorf("%w: 200 to %q", ErrNoRange, httphdr.FormatRange(off, length)), MirrorNoRange, 0
		}
	default:
		return errorStatus(resp, httphdr.FormatRange(off, length))
	}
	if err := checkEncoding(resp); err != nil {
		return err, MirrorDropped, 0
	}
	if reason := httphdr.DigestMismatch(resp.Header, j.hashes); reason != "" {
		return fmt.Errorf("%w: %s", ErrStale, reason), MirrorDropped, 0
	}
	if seq {
		return nil, "", 0
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
		return badResponse("multipart response to a single range"), MirrorDropped, 0
	}
	if err := httphdr.CheckContentRange(resp.Header.Get("Content-Range"), off, length, j.size); err != nil {
		var cre *httphdr.ContentRangeError
		if errors.As(err, &cre) && cre.Total >= 0 && cre.Total != j.size {
			return fmt.Errorf("%w: %v", ErrSizeMismatch, err), MirrorDropped, 0
		}
		return fmt.Errorf("%w: %v", ErrBadResponse, err), MirrorDropped, 0
	}
	if resp.ContentLength >= 0 && resp.ContentLength != length {
		return badResponse("Content-Length %d for %d bytes asked", resp.ContentLength, length), MirrorDropped, 0
	}
	return nil, "", 0
}

// retryAfter parses a Retry-After value (seconds or an HTTP date); 0 when absent or bad.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s >= 0 {
		if s > 1<<20 {
			s = 1 << 20
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func (j *job) lowSpeedLimit() int64 { return j.g.lowSpeedLimit() }

// lowSpeedLimit is the rate under which a request counts as stalled: LowSpeedLimit,
// lowered so that a rate limit shared by many connections never looks like a stall.
func (g *getter) lowSpeedLimit() int64 {
	l := g.o.LowSpeedLimit
	if r := g.o.LimitRate; r > 0 {
		l = min(l, max(r/int64(4*g.o.Connections), 1))
	}
	if r := g.o.MirrorLimitRate; r > 0 {
		l = min(l, max(r/int64(4*g.o.PerMirror), 1))
	}
	return l
}

// do sends a mirror request with the headers every one carries (identity encoding,
// the User-Agent). On failure it returns the mirror state the error implies and the error:
// the cause of a cancelled request (a lost race, a stall) as it is; a refused
// redirect, a certificate that does not verify or oversized headers drop the mirror
// (asking again will not help); anything else is transient ("").
func (g *getter) do(ctx context.Context, req *http.Request) (*http.Response, MirrorState, error) {
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", g.o.UserAgent)
	resp, err := g.o.Client.Do(req)
	if err == nil {
		return resp, "", nil
	}
	if c := context.Cause(ctx); c != nil && c != context.Canceled {
		return nil, "", c
	}
	var cve *tls.CertificateVerificationError
	if errors.Is(err, ErrRedirect) || errors.As(err, &cve) || strings.Contains(err.Error(), "response headers exceeded") {
		return nil, MirrorDropped, err
	}
	return nil, "", err
}

// backoff is how long a mirror waits after its n-th consecutive failure: a jittered
// exponential delay from 200 ms to 10 s, or what Retry-After asked, capped at
// MaxRetryAfter.
func (g *getter) backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, g.o.MaxRetryAfter)
	}
	d := time.Duration(float64(200*time.Millisecond) * float64(int(1)<<min(n-1, 6)))
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1) // jitter
}

// getBuf returns a buffer for one piece (the piece length, or the file size when that
// is smaller: a metalink may give one piece longer than its file).
func (j *job) getBuf() []byte {
	n := min(j.plen, j.size)
	select {
	case b := <-j.g.bufs:
		if int64(cap(*b)) >= n {
			return (*b)[:n]
		}
		// too small (another file's pieces): dropped
	default:
	}
	return make([]byte, n)
}

func (j *job) putBuf(b []byte) {
	if b == nil || int64(cap(b)) < min(j.plen, j.size) {
		return
	}
	select {
	case j.g.bufs <- &b:
	default: // full: dropped
	}
}

// watchdog cancels a request that receives fewer than limit bytes/s over a window
// (which also bounds the wait for the response headers).
type watchdog struct {
	n       atomic.Int64
	min     int64
	window  time.Duration
	t       *time.Timer
	cancel  context.CancelCauseFunc
	stopped atomic.Bool
}

func newWatchdog(cancel context.CancelCauseFunc, window time.Duration, limit int64) *watchdog {
	w := &watchdog{cancel: cancel, window: window, min: max(int64(float64(limit)*window.Seconds()), 1)}
	w.t = time.AfterFunc(window, w.check)
	return w
}

func (w *watchdog) check() {
	if w.stopped.Load() {
		return
	}
	if w.n.Swap(0) < w.min {
		w.cancel(fmt.Errorf("%w: under the low-speed limit for %v", ErrStalled, w.window))
		return
	}
	w.t.Reset(w.window)
}

func (w *watchdog) started()  {}
func (w *watchdog) add(n int) { w.n.Add(int64(n)) }
func (w *watchdog) stop()     { w.stopped.Store(true); w.t.Stop() }
