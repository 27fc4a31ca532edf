package fetch

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mlinkdev/mlink/internal/digest"
)

// sequentialLocked starts the one plain GET of a range-less mirror (it answered 200
// to a Range request) when no other mirror can supply the pieces still needed: its
// body is read from the start, the pieces in need that it has not sent bad are
// verified and written, the others are read and dropped, and the request ends after
// the last piece in need. Each such mirror makes at most one pass. It reports whether
// a pass started.
func (r *repairer) sequentialLocked(ctx context.Context) bool {
	for _, m := range r.mirrors {
		if m.state != MirrorNoRange || m.seqUsed {
			continue
		}
		var runs []pieceRun
		for p := range r.n {
			if !r.eligibleLocked(m, p) {
				continue
			}
			if k := len(runs); k > 0 && runs[k-1].end == p {
				runs[k-1].end = p + 1
			} else {
				runs = append(runs, pieceRun{p, p + 1})
			}
		}
		if len(runs) == 0 {
			continue
		}
		m.seqUsed = true
		r.beginLocked(m, runs)
		r.g.o.Logger.Info("repair: no ranged mirror left for the bad pieces: reading them from a mirror that ignores Range, from the start",
			"file", r.name, "mirror", m.src.name)
		r.wg.Add(1)
		go r.sequential(ctx, m, runs)
		return true
	}
	return false
}

// sequential runs the pass that sequentialLocked started.
func (r *repairer) sequential(parent context.Context, m *rmirror, runs []pieceRun) {
	defer r.wg.Done()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	q := &repairReq{r: r, m: m, ctx: ctx, runs: runs, got: make([]bool, len(runs))}
	q.wd = newWatchdog(cancel, r.g.o.LowSpeedTime, r.lowSpeedLimit())
	err, state, ra := q.sequential()
	q.wd.stop()
	purposeful := errors.Is(err, errStopRequest) || (err != nil && parent.Err() != nil)
	if errors.Is(err, errStopRequest) {
		err = nil
	}
	if err != nil && state == "" {
		state = MirrorNoRange // its one pass is spent: no backoff and no Range request again
	}
	r.release(m, runs, err, state, ra, purposeful)
}

// sequential sends the plain GET and consumes the body up to the end of the last run.
func (q *repairReq) sequential() (error, MirrorState, time.Duration) {
	r, m := q.r, q.m
	req, err := http.NewRequestWithContext(q.ctx, http.MethodGet, m.src.url, nil)
	if err != nil {
		return err, MirrorDropped, 0
	}
	resp, state, err := r.g.do(q.ctx, req)
	if err != nil {
		return err, state, 0
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code >= 200 && code < 300:
		return badResponse("HTTP %s to a request without Range", resp.Status), MirrorDropped, 0
	default:
		return errorStatus(resp, "")
	}
	if err := checkEncoding(resp); err != nil {
		return err, MirrorDropped, 0
	}
	if resp.ContentLength >= 0 && resp.ContentLength != r.size {
		return fmt.Errorf("%w: Content-Length %d, the metalink says %d", ErrSizeMismatch, resp.ContentLength, r.size), MirrorDropped, 0
	}
	want := make([]bool, r.n)
	for _, rg := range q.runs {
		for p := rg.lo; p < rg.end; p++ {
			want[p] = true
		}
	}
	for p := 0; p < q.runs[len(q.runs)-1].end; p++ {
		_, l := r.pieceRange(p)
		if !want[p] {
			if err := q.read(resp.Body, l, nil); err != nil {
				return q.classify(fmt.Errorf("before piece %d: %w", p, err))
			}
			continue
		}
		h, _ := digest.Get(r.ptype)
		err := q.read(resp.Body, l, func(b []byte) { h.Write(b) })
		ok := err == nil && subtle.ConstantTimeCompare(h.Sum(nil), r.psums[p]) == 1
		digest.Put(r.ptype, h)
		if err != nil {
			return q.classify(fmt.Errorf("piece %d: %w", p, err))
		}
		if !ok {
			if r.pieceBad(m, p) {
				return errStopRequest, "", 0 // quarantined: nothing more of it is read
			}
			continue
		}
		if err := r.pieceDone(m, p, q.buf[:l]); err != nil {
			return errStopRequest, "", 0 // a disk error: r.fatal ends the repair
		}
	}
	for i := range q.got {
		q.got[i] = true
	}
	return nil, "", 0
}
