package fetch

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/metalink"
)

// getUnknownSize downloads a file whose metalink gives no size: one plain GET at a
// time, mirrors in preference order, the body streamed into the part file while every
// supported whole-file hash is computed; the first copy whose hashes all match wins.
// Without hashes (InsecureNoHash) the first complete body is taken. Piece hashes
// cannot be placed without a size and are not used. Each mirror is asked once.
func (g *getter) getUnknownSize(ctx context.Context, part *os.File, f *metalink.File, whole []metalink.Hash, mirrors []*mirror) (string, []MirrorReport, error) {
	var reps []MirrorReport
	var lastErr error = ErrNoSource
	for _, m := range mirrors {
		if err := ctx.Err(); err != nil {
			return "", reps, err
		}
		release, err := g.acquire(ctx, nil, m.host)
		if err != nil {
			return "", reps, err
		}
		sum, n, err := g.streamWhole(ctx, part, f, whole, m)
		release()
		r := MirrorReport{URL: m.name, State: MirrorActive, Bytes: n, Requests: 1}
		if err == nil {
			r.Good = n
			reps = append(reps, r)
			return sum, reps, nil
		}
		r.State, r.Errors, r.LastError = MirrorDropped, 1, err.Error()
		reps = append(reps, r)
		g.emit(Event{Kind: EventMirrorState, File: f.Name, Piece: -1, Mirror: m.name, State: MirrorDropped, Err: err})
		lastErr = err
		if ctx.Err() != nil {
			return "", reps, ctx.Err()
		}
	}
	if errors.Is(lastErr, ErrVerify) {
		return "", reps, &PieceError{File: f.Name, Index: -1, Err: lastErr}
	}
	return "", reps, &PieceError{File: f.Name, Index: -1, Err: errors.Join(ErrNoSource, lastErr)}
}

func (g *getter) streamWhole(ctx context.Context, part *os.File, f *metalink.File, whole []metalink.Hash, m *mirror) (string, int64, error) {
	if err := part.Truncate(0); err != nil {
		return "", 0, err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(cancel, g.o.LowSpeedTime, g.o.LowSpeedLimit)
	defer wd.stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, m.url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, _, err := g.do(rctx, req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("HTTP %s", resp.Status)
	}
	if err := checkEncoding(resp); err != nil {
		return "", 0, err
	}
	hs := make([]hash.Hash, len(whole))
	for i, h := range whole {
		hs[i], _ = digest.New(h.Type)
	}
	buf := make([]byte, g.chunk(m))
	var n int64
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			for _, h := range hs {
				h.Write(buf[:k])
			}
			if _, err := part.WriteAt(buf[:k], n); err != nil {
				return "", n, fmt.Errorf("writing %s: %w", f.Name, err)
			}
			n += int64(k)
			m.bytes.Add(int64(k))
			g.bytes.Add(int64(k))
			wd.add(k)
			if err := g.wait(rctx, m, k); err != nil {
				rerr = err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if c := context.Cause(rctx); c != nil && c != context.Canceled {
				rerr = c
			}
			return "", n, rerr
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return "", n, fmt.Errorf("%w: %d bytes for Content-Length %d", ErrBadResponse, n, resp.ContentLength)
	}
	best, bestS := "", 0
	for i, h := range hs {
		want, _ := hex.DecodeString(whole[i].Value)
		if sum := h.Sum(nil); subtle.ConstantTimeCompare(sum, want) != 1 {
			return "", n, fmt.Errorf("%w: %s is %x, metalink says %s", ErrVerify, whole[i].Type, sum, whole[i].Value)
		}
		if s := metalink.HashStrength(whole[i].Type); s > bestS {
			best, bestS = whole[i].Type+":"+whole[i].Value, s
		}
	}
	return best, n, nil
}
