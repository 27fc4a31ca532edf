package fetch

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/internal/httphdr"
)

// repairPartOverhead bounds the multipart framing (boundaries and part headers) a
// repair response may carry per part, on top of the bytes asked: a body longer than
// that is cut and the response rejected.
const repairPartOverhead = 1 << 10

// repairFramingSlack is framing a multipart/byteranges body may use beyond
// repairPartOverhead per part: the multipart reader's read-ahead of part bytes not yet
// consumed (its buffer is 4 KiB) and the line ends around the boundaries.
const repairFramingSlack = 16 << 10

// errFraming: a multipart/byteranges body spends more bytes on its framing (preamble,
// boundaries, part headers) than its parts can need.
var errFraming = errors.New("multipart framing larger than its parts need")

// framingReader counts the bytes read from a multipart body that were not (yet)
// delivered as part bytes, and fails once they exceed max: a hostile part header or
// preamble is cut after a few KiB instead of being buffered (Go's multipart reader
// takes part headers of up to 10 MiB).
type framingReader struct {
	r               io.Reader
	read, delivered int64
	max             int64
}

func (f *framingReader) Read(p []byte) (int, error) {
	if f.read-f.delivered > f.max {
		return 0, errFraming
	}
	n, err := f.r.Read(p)
	f.read += int64(n)
	return n, err
}

// errStopRequest ends a request without blaming the mirror (a bad piece was already
// recorded, or the repair is over).
var errStopRequest = errors.New("request stopped")

// repairReq is one request of a repair in flight.
type repairReq struct {
	r      *repairer
	m      *rmirror
	ctx    context.Context
	runs   []pieceRun
	ranges []httphdr.ByteRange // the byte ranges of runs, ascending
	got    []bool              // ranges received
	wd     *watchdog
	buf    []byte
	frame  *framingReader // multipart: counts the part bytes read (nil otherwise)
}

// request asks m for runs in one request (several ranges: a multipart/byteranges
// response is expected) and writes every piece of the answer that verifies.
func (r *repairer) request(parent context.Context, m *rmirror, runs []pieceRun) {
	defer r.wg.Done()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	q := &repairReq{r: r, m: m, ctx: ctx, runs: runs, got: make([]bool, len(runs))}
	for _, rg := range runs {
		off, _ := r.pieceRange(rg.lo)
		lastOff, lastLen := r.pieceRange(rg.end - 1)
		q.ranges = append(q.ranges, httphdr.ByteRange{Start: off, Length: lastOff + lastLen - off})
	}
	q.wd = newWatchdog(cancel, r.g.o.LowSpeedTime, r.lowSpeedLimit())
	err, state, ra := q.do()
	q.wd.stop()
	purposeful := errors.Is(err, errStopRequest) || (err != nil && parent.Err() != nil)
	if errors.Is(err, errStopRequest) {
		err = nil
	}
	if err == nil {
		// Ranges a multipart answer left out: the mirror is not trusted with several
		// ranges again, and those pieces count a failure each.
		for i, ok := range q.got {
			if !ok && !purposeful {
				r.mu.Lock()
				m.single = true
				for p := runs[i].lo; p < runs[i].end; p++ {
					if r.need[p] {
						r.fails[p]++
					}
				}
				r.mu.Unlock()
			}
		}
	}
	r.release(m, runs, err, state, ra, purposeful)
}

func (r *repairer) lowSpeedLimit() int64 { return r.g.lowSpeedLimit() }

func rangeHeader(rs []httphdr.ByteRange) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i, rg := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(rg.Start, 10) + "-" + strconv.FormatInt(rg.Last(), 10))
	}
	return b.String()
}

// do sends the request and consumes the response. It returns nil, errStopRequest or
// the mirror's error with the state it implies ("" = transient) and a Retry-After.
func (q *repairReq) do() (error, MirrorState, time.Duration) {
	r, m := q.r, q.m
	req, err := http.NewRequestWithContext(q.ctx, http.MethodGet, m.src.url, nil)
	if err != nil {
		return err, MirrorDropped, 0
	}
	req.Header.Set("Range", rangeHeader(q.ranges))
	resp, state, err := r.g.do(q.ctx, req)
	if err != nil {
		return err, state, 0
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		// Never stream a whole copy to repair a few pieces while a ranged mirror can
		// supply them: the body is not read, and the mirror makes at most one
		// sequential pass, when nothing else is left (sequentialLocked).
		return fmt.Errorf("%w: 200 to a Range request; read from the start only if no other mirror can supply a piece", ErrNoRange), MirrorNoRange, 0
	default:
		return errorStatus(resp, req.Header.Get("Range"))
	}
	if err := checkEncoding(resp); err != nil {
		return err, MirrorDropped, 0
	}
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		if len(q.ranges) == 1 {
			return badResponse("multipart response to a single range"), MirrorDropped, 0
		}
		if mt != "multipart/byteranges" || params["boundary"] == "" {
			return badResponse("Content-Type %q", mt), MirrorDropped, 0
		}
		return q.multipart(resp, params["boundary"])
	}
	// One part: exactly one asked range, or (a server that coalesces) a span from the
	// start of one asked range to the end of a later one.
	first, last, total, perr := httphdr.ParseContentRange(resp.Header.Get("Content-Range"))
	if err, st := q.checkPart(resp.Header.Get("Content-Range"), first, last, total, perr); err != nil {
		return err, st, 0
	}
	if resp.ContentLength >= 0 && resp.ContentLength != last-first+1 {
		return badResponse("Content-Length %d for Content-Range %d-%d", resp.ContentLength, first, last), MirrorDropped, 0
	}
	if len(q.ranges) > 1 {
		r.mu.Lock()
		if !m.single {
			m.single = true
			r.g.o.Logger.Info("repair: mirror answers several ranges with one part; single ranges from now on", "mirror", m.src.name)
		}
		r.mu.Unlock()
	}
	if err := q.readPart(resp.Body, first, last); err != nil {
		return q.classify(err)
	}
	return q.expectEnd(resp.Body)
}

// checkPart applies SECURITY.md rules 7 and 8 to one part's Content-Range: the total
// must be the metalink size; first must start an asked range not yet received and last
// end one (the same or a later one, none of them received).
func (q *repairReq) checkPart(hdr string, first, last, total int64, perr error) (error, MirrorState) {
	size := q.r.size
	switch {
	case perr != nil || first < 0:
		return fmt.Errorf("%w: Content-Range %q", ErrBadResponse, clipHeader(hdr)), MirrorDropped
	case total != size:
		return fmt.Errorf("%w: Content-Range %q, metalink size %d", ErrSizeMismatch, clipHeader(hdr), size), MirrorDropped
	}
	i, k := -1, -1
	for x, rg := range q.ranges {
		if rg.Start == first {
			i = x
		}
		if rg.Last() == last {
			k = x
		}
	}
	if i < 0 || k < i {
		return fmt.Errorf("%w: Content-Range %q is not a range that was asked (%s)", ErrBadResponse, clipHeader(hdr), clipHeader(rangeHeader(q.ranges))), MirrorDropped
	}
	for x := i; x <= k; x++ {
		if q.got[x] {
			return fmt.Errorf("%w: Content-Range %q repeats a range already received", ErrBadResponse, clipHeader(hdr)), MirrorDropped
		}
	}
	return nil, ""
}

// multipart consumes a multipart/byteranges body part by part.
func (q *repairReq) multipart(resp *http.Response, boundary string) (error, MirrorState, time.Duration) {
	// At most the span of the asked ranges (a coalescing server may send the gaps
	// between them) plus the framing of one part per range.
	limit := q.ranges[len(q.ranges)-1].End() - q.ranges[0].Start
	limit += int64(len(q.ranges)+1) * repairPartOverhead
	body := &io.LimitedReader{R: resp.Body, N: limit}
	q.frame = &framingReader{r: body, max: int64(len(q.ranges)+1)*repairPartOverhead + repairFramingSlack}
	mr := multipart.NewReader(q.frame, boundary)
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return nil, "", 0
		}
		if err != nil {
			if errors.Is(err, errFraming) {
				return fmt.Errorf("%w: %v", ErrBadResponse, errFraming), MirrorDropped, 0
			}
			if q.ctx.Err() != nil || body.N > 0 && isTransient(err) {
				return q.classify(err)
			}
			return fmt.Errorf("%w: multipart body: %v", ErrBadResponse, err), MirrorDropped, 0
		}
		if te := part.Header.Get("Content-Transfer-Encoding"); te != "" && !strings.EqualFold(te, "binary") {
			return fmt.Errorf("%w: part with Content-Transfer-Encoding %q", ErrBadResponse, clipHeader(te)), MirrorDropped, 0
		}
		hdr := part.Header.Get("Content-Range")
		first, last, total, perr := httphdr.ParseContentRange(hdr)
		if err, st := q.checkPart(hdr, first, last, total, perr); err != nil {
			return err, st, 0
		}
		if err := q.readPart(part, first, last); err != nil {
			if errors.Is(err, errFraming) {
				return fmt.Errorf("%w: %v", ErrBadResponse, errFraming), MirrorDropped, 0
			}
			if !errors.Is(err, errStopRequest) && body.N == 0 {
				err = fmt.Errorf("%w: multipart body longer than asked", ErrBadResponse)
				return err, MirrorDropped, 0
			}
			return q.classify(err)
		}
		if err, st, ra := q.expectEnd(part); err != nil {
			return err, st, ra
		}
	}
}

func isTransient(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset")
}

// classify turns a read error into the mirror state it implies.
func (q *repairReq) classify(err error) (error, MirrorState, time.Duration) {
	if errors.Is(err, errStopRequest) {
		return err, "", 0
	}
	if c := context.Cause(q.ctx); c != nil && c != context.Canceled {
		return c, "", 0
	}
	return err, "", 0
}

// expectEnd checks that nothing follows the bytes of a part.
func (q *repairReq) expectEnd(r io.Reader) (error, MirrorState, time.Duration) {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		return fmt.Errorf("%w: more bytes than the Content-Range says", ErrBadResponse), MirrorDropped, 0
	}
	if err != nil && err != io.EOF {
		return q.classify(err)
	}
	return nil, "", 0
}

// readPart reads the bytes [first, last] of the file from body: pieces of asked
// ranges are hash-verified and written, bytes between asked ranges (a coalescing
// server) are read and dropped. A piece failing its hash ends the request
// (errStopRequest): the rest of the response is not trusted.
func (q *repairReq) readPart(body io.Reader, first, last int64) error {
	r := q.r
	pos := first
	var gap int64
	for x, rg := range q.ranges {
		if rg.Start < first || rg.Last() > last {
			continue
		}
		if rg.Start > pos {
			gap += rg.Start - pos
			if err := q.read(body, rg.Start-pos, nil); err != nil {
				return err
			}
		}
		for p := q.runs[x].lo; p < q.runs[x].end; p++ {
			_, l := r.pieceRange(p)
			if q.buf == nil {
				q.buf = make([]byte, min(r.plen, r.size))
			}
			h, _ := digest.Get(r.ptype)
			err := q.read(body, l, func(b []byte) { h.Write(b) })
			ok := err == nil && subtle.ConstantTimeCompare(h.Sum(nil), r.psums[p]) == 1
			digest.Put(r.ptype, h)
			if err != nil {
				return fmt.Errorf("piece %d: %w", p, err)
			}
			if !ok {
				r.pieceBad(q.m, p)
				return errStopRequest
			}
			if err := r.pieceDone(q.m, p, q.buf[:l]); err != nil {
				return errStopRequest // a disk error: r.fatal ends the repair
			}
		}
		q.got[x] = true
		pos = rg.End()
	}
	if gap > 0 {
		r.mu.Lock()
		if !q.m.single && gap > (last-first+1)-gap {
			q.m.single = true // coalescing costs more than it saves
		}
		r.mu.Unlock()
	}
	return nil
}

// read reads exactly n bytes of body into q.buf (in pieces of at most the limiter
// burst, charging the rate limiters and the watchdog) and passes each chunk to sink;
// a nil sink reads and drops the bytes.
func (q *repairReq) read(body io.Reader, n int64, sink func([]byte)) error {
	r, m := q.r, q.m
	if q.buf == nil {
		q.buf = make([]byte, min(r.plen, r.size))
	}
	chunk := int64(r.g.chunk(m.src))
	var got int64
	for got < n {
		want := min(chunk, n-got)
		var dst []byte
		if sink != nil {
			dst = q.buf[got : got+want]
		} else {
			dst = q.buf[:min(want, int64(len(q.buf)))]
		}
		k, err := body.Read(dst)
		if k > 0 {
			if sink != nil {
				sink(dst[:k])
			}
			got += int64(k)
			if q.frame != nil {
				q.frame.delivered += int64(k)
			}
			m.src.bytes.Add(int64(k))
			r.g.bytes.Add(int64(k))
			q.wd.add(k)
			if werr := r.g.wait(q.ctx, m.src, k); werr != nil {
				err = werr
			}
		}
		if err != nil && got < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if c := context.Cause(q.ctx); c != nil && c != context.Canceled {
				err = c
			}
			return err
		}
	}
	return nil
}

func clipHeader(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
