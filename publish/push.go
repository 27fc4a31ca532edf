package publish

// Resumable uploads, client side (issue 5, seed 002): Push.
//
// Algorithm. Push first asks the server how much it already has (a status
// query, "PUT" with "Content-Range: bytes */SIZE" and an empty body), then
// sends the file in chunks ("Content-Range: bytes A-B/SIZE") starting at the
// offset the server reported. After every answer the next chunk starts where
// the server says its received range ends ("Range: bytes=0-N"), never where
// Push's own counter is: a server that lost data makes Push back up, a 308
// without Range makes it start over, and a server claiming more bytes than the
// file has fails the push. After a network error, a 5xx, 408, 429 or a 409
// (another writer), Push waits (exponential backoff with jitter, Retry-After
// honoured) and asks the server for its offset again; PushOptions.Retries
// consecutive failures without progress end the push with an error wrapping
// ErrPushIncomplete (running Push again resumes). Redirects are never followed.
//
// The sha-256 of the whole file is computed by one goroutine in one read pass
// while the chunks are sent (chunk bodies go straight from the file to the
// socket through the transport's buffer), and is declared with the
// last chunk ("Repr-Digest: sha-256=:BASE64:"), so the server refuses to
// publish bytes that do not hash to it (a file changed during the push). Finally Push checks
// the server's copy: the Repr-Digest of its 201, or else a HEAD (size and
// Repr-Digest/Digest), or else a ranged read-back of the file's first and last
// bytes.
//
// Push only reads the local file; an interrupted push leaves nothing on the
// client's disk, and the server keeps what it received for the next attempt.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/internal/httphdr"
)

// Defaults used when the corresponding PushOptions field is zero.
const (
	// DefaultPushChunkSize is the chunk length (8 MiB).
	DefaultPushChunkSize = 8 << 20
	// DefaultPushRetries is how many consecutive failures without progress
	// Push tolerates before giving up.
	DefaultPushRetries = 8
	// DefaultPushRetryWait is the first backoff delay; it doubles per failure,
	// with jitter, up to MaxPushRetryWait.
	DefaultPushRetryWait = 500 * time.Millisecond
	// MaxPushRetryWait caps one backoff delay (and a server's Retry-After).
	MaxPushRetryWait = 30 * time.Second
)

// Sentinel errors of Push; a *PushError wraps one of them.
var (
	// ErrPushAuth: the server refused the token (401 or 403).
	ErrPushAuth = errors.New("upload refused: missing or wrong token")
	// ErrPushTooLarge: the server refused the file's size (413).
	ErrPushTooLarge = errors.New("upload refused: file larger than the server accepts")
	// ErrPushExists: the server already has a different file under that name.
	ErrPushExists = errors.New("upload refused: a different file exists under that name")
	// ErrPushMismatch: the server's copy does not hash to the local file's
	// sha-256 (it refused to publish it, or a final check found it different).
	ErrPushMismatch = errors.New("server's copy does not match the local file")
	// ErrPushServerAhead: the server claims more bytes than the file has.
	ErrPushServerAhead = errors.New("server reports more bytes than the file has")
	// ErrPushIncomplete: retries ran out; pushing again resumes.
	ErrPushIncomplete = errors.New("upload incomplete (retries exhausted); push again to resume")
	// ErrPushRefused: any other answer the protocol does not allow.
	ErrPushRefused = errors.New("upload refused by the server")
	// ErrPushFileChanged: the local file changed size or time during the push.
	ErrPushFileChanged = errors.New("local file changed during the upload")
)

// PushError says what went wrong with one push.
type PushError struct {
	// File is the local file; URL the upload URL (credentials redacted).
	File, URL string
	// Status is the last HTTP status (0 for a network error).
	Status int
	// Offset is the last offset the server reported.
	Offset int64
	// Msg is the server's explanation or the local detail.
	Msg string
	// Err is one of the ErrPush sentinels, or a context error.
	Err error
}

func (e *PushError) Error() string {
	s := fmt.Sprintf("push %s to %s: %v", e.File, e.URL, e.Err)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d at offset %d)", e.Status, e.Offset)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

func (e *PushError) Unwrap() error { return e.Err }

// PushOptions configures Push. The zero value pushes without a token, in
// DefaultPushChunkSize chunks, with DefaultPushRetries retries.
type PushOptions struct {
	// Token is sent as "Authorization: Bearer TOKEN". It is never logged or
	// put in an error.
	Token string
	// ChunkSize is the length of each PUT body; 0 means DefaultPushChunkSize.
	ChunkSize int64
	// Retries is the number of consecutive failed attempts without progress
	// before Push gives up; 0 means DefaultPushRetries, negative means none.
	Retries int
	// RetryWait is the first backoff delay; 0 means DefaultPushRetryWait.
	RetryWait time.Duration
	// SHA256 is the file's sha-256 as lowercase hex when the caller already
	// knows it (from the file's metalink, say); Push then does not read the
	// file to hash it. A wrong value makes the server refuse the upload
	// (ErrPushMismatch), with nothing published.
	SHA256 string
	// ReadBack forces the HEAD and ranged read-back checks even when the
	// server's 201 carried a matching Repr-Digest.
	ReadBack bool
	// Progress, if set, is called from Push's goroutine after each answer
	// with the bytes the server has confirmed.
	Progress func(PushProgress)
	// Logger receives retries and resumes; nil discards.
	Logger *slog.Logger
}

// PushProgress is one progress report of Push.
type PushProgress struct {
	// File is the local file; Size its length.
	File string
	Size int64
	// Offset is the number of bytes the server has confirmed.
	Offset int64
}

// PushResult reports a finished push.
type PushResult struct {
	File string `json:"file"`
	URL  string `json:"url"`
	Size int64  `json:"size"`
	// SHA256 is the lowercase hex sha-256 of the file as sent.
	SHA256 string `json:"sha256"`
	// ResumedFrom is the offset the server reported before the first chunk.
	ResumedFrom int64 `json:"resumed_from"`
	// BytesSent counts request body bytes, resends included.
	BytesSent int64 `json:"bytes_sent"`
	// Requests counts HTTP requests; Retries the failed attempts retried.
	Requests int `json:"requests"`
	Retries  int `json:"retries"`
	// AlreadyPresent: the server had the complete file already.
	AlreadyPresent bool `json:"already_present"`
	// Verified says how the server's copy was checked ("repr-digest",
	// "head digest", "ranged read-back"; joined with "+"), or "" when the
	// server offered no way to check it.
	Verified string `json:"verified"`
	// Duration is the wall time of the push.
	Duration time.Duration `json:"duration_ns"`
}

// Push uploads file to rawURL with the resumable protocol of seed 002 and
// returns once the server has published it and its copy was checked. client
// may be nil (http.DefaultClient); Push uses a copy of it that never follows
// redirects. See the comment at the top of push.go for the algorithm.
func Push(ctx context.Context, client *http.Client, file, rawURL string, opts PushOptions) (*PushResult, error) {
	start := time.Now()
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &PushError{File: file, URL: pushRedact(rawURL), Err: ErrPushRefused, Msg: "not an http(s) URL"}
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("push: %s is not a regular file", file)
	}
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := &pusher{
		c: &c, f: f, fi: fi, size: fi.Size(), url: u.String(), opts: opts,
		res:  &PushResult{File: file, URL: u.Redacted(), Size: fi.Size()},
		file: file,
	}
	if p.opts.ChunkSize <= 0 {
		p.opts.ChunkSize = DefaultPushChunkSize
	}
	if p.opts.Retries == 0 {
		p.opts.Retries = DefaultPushRetries
	}
	if p.opts.RetryWait <= 0 {
		p.opts.RetryWait = DefaultPushRetryWait
	}
	p.log = opts.Logger
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	hctx, cancel := context.WithCancel(ctx)
	p.hashDone = make(chan struct{})
	if opts.SHA256 != "" {
		sum, err := hex.DecodeString(opts.SHA256)
		if err != nil || len(sum) != sha256.Size || strings.ToLower(opts.SHA256) != opts.SHA256 {
			cancel()
			return nil, &PushError{File: file, URL: p.res.URL, Err: ErrPushRefused, Msg: "PushOptions.SHA256 is not 64 lowercase hex digits"}
		}
		p.sum = sum
		close(p.hashDone)
	} else {
		go p.hashFile(hctx)
	}
	err = p.run(ctx)
	cancel()
	<-p.hashDone
	p.res.Duration = time.Since(start)
	if err != nil {
		return p.res, err
	}
	return p.res, nil
}

// pusher is the state of one Push; used by one goroutine (plus the hashing
// goroutine of the chunk in flight, which only reads the chunk buffer).
type pusher struct {
	c    *http.Client
	f    *os.File
	fi   os.FileInfo
	size int64
	url  string
	opts PushOptions
	log  *slog.Logger
	res  *PushResult

	file string

	// The sha-256 of the whole file: hashFile sets sum or hashErr, then closes hashDone.
	hashDone chan struct{}
	sum      []byte
	hashErr  error

	offset    int64 // last offset the server reported
	best      int64 // highest offset the server has confirmed; failures reset only beyond it
	restarted bool  // already started over once after a 422 on a resumed upload
}

// pushAnswer is what one response means.
type pushAnswer struct {
	status     int
	offset     int64 // server's received bytes (308, 409)
	hasOffset  bool
	done       bool   // 200/201: the file is published
	digest     []byte // the server's sha-256 (Repr-Digest/Digest), when sent
	retryAfter time.Duration
	msg        string
	exists     bool // 409 with Upload-Conflict: exists
}

func (p *pusher) fail(err error, status int, msg string) error {
	return &PushError{File: p.res.File, URL: p.res.URL, Status: status, Offset: p.offset, Msg: msg, Err: err}
}

func (p *pusher) run(ctx context.Context) error {
	failures := 0
	needQuery := true
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return p.fail(err, 0, "")
		}
		if err := p.checkUnchanged(); err != nil {
			return err
		}
		var ans *pushAnswer
		var err error
		switch {
		case needQuery:
			var dig []byte
			select {
			case <-p.hashDone:
				dig = p.sum // nil after a hashing error, which finalSum reports later
			default:
			}
			ans, err = p.send(ctx, -1, 0, dig)
		case p.size == 0 || p.offset == p.size:
			// The empty file in one PUT, or a status query that completes a
			// fully received upload by declaring the digest.
			var dig []byte
			if dig, err = p.finalSum(ctx); err != nil {
				return err
			}
			if p.size == 0 {
				ans, err = p.send(ctx, 0, 0, dig)
			} else {
				ans, err = p.send(ctx, -1, 0, dig)
			}
		default:
			ans, err = p.sendChunk(ctx)
		}
		if err != nil {
			var pe *PushError
			if errors.As(err, &pe) || ctx.Err() != nil {
				if ctx.Err() != nil {
					return p.fail(ctx.Err(), 0, "")
				}
				return err
			}
			// A network error: ask the server where it stands, after a pause.
			failures++
			p.res.Retries++
			if failures > max(p.opts.Retries, 0) {
				return p.fail(ErrPushIncomplete, 0, err.Error())
			}
			p.log.Info("push: retrying after a network error", "file", p.res.File, "attempt", failures, "err", err)
			if err := p.sleep(ctx, failures, 0); err != nil {
				return p.fail(err, 0, "")
			}
			needQuery = true
			continue
		}
		switch {
		case ans.done:
			return p.finish(ctx, ans, needQuery && first)
		case ans.status == StatusResumeIncomplete:
			before := p.offset
			if ans.offset > p.size {
				return p.fail(ErrPushServerAhead, ans.status, fmt.Sprintf("server has %d bytes of a %d-byte file", ans.offset, p.size))
			}
			if !needQuery && ans.offset < before {
				p.log.Info("push: server reports fewer bytes than sent; backing up", "file", p.res.File, "server", ans.offset, "sent_to", before)
			}
			p.offset = ans.offset
			if first {
				p.res.ResumedFrom = ans.offset
				first = false
			}
			switch {
			case needQuery:
				// A status query neither succeeds nor fails.
			case p.offset > p.best:
				failures, p.best = 0, p.offset
			case p.offset > before:
				// Progress, but only regaining what the server had lost.
			default:
				// A chunk that moved nothing: count it, so that a server that
				// never keeps anything cannot loop Push forever.
				failures++
				p.res.Retries++
				if failures > max(p.opts.Retries, 0) {
					return p.fail(ErrPushIncomplete, ans.status, "the server keeps reporting the same offset")
				}
				if err := p.sleep(ctx, failures, ans.retryAfter); err != nil {
					return p.fail(err, 0, "")
				}
			}
			needQuery = false
			p.progress(p.offset)
			continue
		}
		// An error answer.
		if ans.exists {
			return p.fail(ErrPushExists, ans.status, ans.msg)
		}
		if sentinel := pushFatal(ans.status); sentinel != nil {
			if ans.status == http.StatusUnprocessableEntity && p.res.ResumedFrom > 0 && !p.restarted {
				// The server's staged bytes came from another version of the file:
				// it discarded them; start over from zero once.
				p.restarted = true
				p.log.Info("push: server discarded a mismatched upload; starting over", "file", p.res.File)
				needQuery = true
				continue
			}
			return p.fail(sentinel, ans.status, ans.msg)
		}
		failures++
		p.res.Retries++
		if failures > max(p.opts.Retries, 0) {
			return p.fail(ErrPushIncomplete, ans.status, ans.msg)
		}
		p.log.Info("push: retrying", "file", p.res.File, "status", ans.status, "attempt", failures, "msg", ans.msg)
		if err := p.sleep(ctx, failures, ans.retryAfter); err != nil {
			return p.fail(err, 0, "")
		}
		needQuery = true
	}
}

// pushFatal maps statuses that retrying cannot fix to their sentinel; nil means retry.
func pushFatal(status int) error {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrPushAuth
	case http.StatusRequestEntityTooLarge:
		return ErrPushTooLarge
	case http.StatusUnprocessableEntity:
		return ErrPushMismatch
	case http.StatusConflict, http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusLocked:
		return nil
	}
	if status >= 500 {
		return nil
	}
	return ErrPushRefused
}

// sleep waits the jittered backoff for the n-th consecutive failure, or the
// server's Retry-After when longer (capped at MaxPushRetryWait).
func (p *pusher) sleep(ctx context.Context, n int, retryAfter time.Duration) error {
	d := p.opts.RetryWait << min(n-1, 16)
	d = min(d, MaxPushRetryWait)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	d = max(d, min(retryAfter, MaxPushRetryWait))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkUnchanged fails when the file's size or modification time moved.
func (p *pusher) checkUnchanged() error {
	fi, err := p.f.Stat()
	if err != nil {
		return p.fail(err, 0, "")
	}
	if fi.Size() != p.size || !fi.ModTime().Equal(p.fi.ModTime()) {
		return p.fail(ErrPushFileChanged, 0, fmt.Sprintf("size %d -> %d", p.size, fi.Size()))
	}
	return nil
}

// hashFile computes the sha-256 of the whole file in one sequential pass.
func (p *pusher) hashFile(ctx context.Context) {
	defer close(p.hashDone)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < p.size; {
		if err := ctx.Err(); err != nil {
			p.hashErr = err
			return
		}
		m := min(int64(len(buf)), p.size-off)
		if _, err := p.f.ReadAt(buf[:m], off); err != nil {
			p.hashErr = fmt.Errorf("reading at %d: %w", off, err)
			return
		}
		h.Write(buf[:m])
		off += m
	}
	p.sum = h.Sum(nil)
}

// finalSum waits for the file's sha-256.
func (p *pusher) finalSum(ctx context.Context) ([]byte, error) {
	select {
	case <-p.hashDone:
	case <-ctx.Done():
		return nil, p.fail(ctx.Err(), 0, "")
	}
	if p.hashErr != nil {
		if ctx.Err() != nil {
			return nil, p.fail(ctx.Err(), 0, "")
		}
		return nil, p.fail(ErrPushFileChanged, 0, p.hashErr.Error())
	}
	p.res.SHA256 = hex.EncodeToString(p.sum)
	return p.sum, nil
}

// sendChunk sends the chunk at the server's offset. The last chunk waits for
// the digest, which its headers carry.
func (p *pusher) sendChunk(ctx context.Context) (*pushAnswer, error) {
	off := p.offset
	n := min(p.opts.ChunkSize, p.size-off)
	var dig []byte
	if off+n == p.size {
		var err error
		if dig, err = p.finalSum(ctx); err != nil {
			return nil, err
		}
	}
	return p.send(ctx, off, n, dig)
}

// send PUTs the n bytes of the file at off (off < 0: a status query with an
// empty body; n == 0 at off 0: the whole empty file), declaring dig when set.
// The body reads the file at its offsets as the transport sends it (no
// chunk-sized buffer).
func (p *pusher) send(ctx context.Context, off, n int64, dig []byte) (*pushAnswer, error) {
	var body io.Reader = http.NoBody
	if n > 0 {
		body = io.NopCloser(io.NewSectionReader(p.f, off, n))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.url, body)
	if err != nil {
		return nil, p.fail(ErrPushRefused, 0, err.Error())
	}
	req.ContentLength = n
	if n > 0 {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(p.f, off, n)), nil }
	}
	switch {
	case off < 0:
		req.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(p.size, 10))
	case n > 0:
		req.Header.Set("Content-Range", httphdr.FormatContentRange(off, off+n-1, p.size))
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if p.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.opts.Token)
	}
	if dig != nil {
		req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(dig)+":")
	}
	p.res.Requests++
	p.res.BytesSent += n
	resp, err := p.c.Do(req)
	if err != nil {
		return nil, pushScrub(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	ans := &pushAnswer{status: resp.StatusCode, msg: strings.TrimSpace(pushPrintable(string(msg)))}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs >= 0 {
			ans.retryAfter = time.Duration(secs) * time.Second
		}
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		if off < 0 && resp.StatusCode == http.StatusNoContent {
			break
		}
		ans.done = true
		ans.digest = pushServerSHA256(resp.Header)
	case StatusResumeIncomplete, http.StatusConflict:
		ans.exists = resp.StatusCode == http.StatusConflict && resp.Header.Get(UploadConflictHeader) == "exists"
		r := resp.Header.Get("Range")
		if r == "" {
			if resp.StatusCode == StatusResumeIncomplete {
				ans.hasOffset, ans.offset = true, 0 // nothing persisted
			}
			break
		}
		end, ok := pushParseReceived(r)
		if !ok {
			if resp.StatusCode == StatusResumeIncomplete {
				return nil, p.fail(ErrPushRefused, resp.StatusCode, fmt.Sprintf("unparsable Range %q in 308", r))
			}
			break
		}
		ans.hasOffset, ans.offset = true, end
	}
	return ans, nil
}

// pushParseReceived parses a 308's "Range: bytes=0-N" into N+1.
func pushParseReceived(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "bytes=0-")
	if !ok || rest == "" || len(rest) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 || rest[0] == '+' {
		return 0, false
	}
	return n + 1, true
}

// pushServerSHA256 extracts a sha-256 from Repr-Digest or Digest, nil when
// absent or malformed.
func pushServerSHA256(h http.Header) []byte {
	sum, err := uploadDeclaredSHA256(h)
	if err != nil {
		return nil
	}
	return sum
}

// pushScrub drops the request URL's credentials from a client error.
func pushScrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func pushRedact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// pushPrintable keeps a server's message to printable ASCII.
func pushPrintable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= ' ' && r < 0x7f) {
			return r
		}
		return '?'
	}, s)
}

func (p *pusher) progress(off int64) {
	if p.opts.Progress != nil {
		p.opts.Progress(PushProgress{File: p.res.File, Size: p.size, Offset: off})
	}
}

// finish checks the server's copy after a 200/201.
func (p *pusher) finish(ctx context.Context, ans *pushAnswer, beforeAnyChunk bool) error {
	sum, err := p.finalSum(ctx)
	if err != nil {
		return err
	}
	p.offset = p.size
	p.res.AlreadyPresent = beforeAnyChunk
	var how []string
	if ans.digest != nil {
		if !bytes.Equal(ans.digest, sum) {
			if beforeAnyChunk {
				return p.fail(ErrPushExists, ans.status, fmt.Sprintf("the server's file has sha-256 %x, the local file %x", ans.digest, sum))
			}
			return p.fail(ErrPushMismatch, ans.status, fmt.Sprintf("server reports sha-256 %x, the local file has %x", ans.digest, sum))
		}
		how = append(how, "repr-digest")
	} else if beforeAnyChunk {
		return p.fail(ErrPushRefused, ans.status, "the server says the upload is complete but sends no digest to check it against")
	}
	if ans.digest == nil || p.opts.ReadBack {
		h, err := p.checkHEAD(ctx, sum)
		if err != nil {
			return err
		}
		if h != "" {
			how = append(how, h)
		}
		if h == "" || p.opts.ReadBack {
			rb, err := p.readBack(ctx)
			if err != nil {
				return err
			}
			if rb != "" {
				how = append(how, rb)
			}
		}
	}
	p.res.Verified = strings.Join(how, "+")
	p.progress(p.size)
	return nil
}

// checkHEAD compares the size and digest a HEAD reports; "" when the server
// gives neither a digest nor a 2xx.
func (p *pusher) checkHEAD(ctx context.Context, sum []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, p.url, nil)
	if err != nil {
		return "", nil
	}
	req.Header.Set("Want-Repr-Digest", "sha-256=10")
	p.res.Requests++
	resp, err := p.c.Do(req)
	if err != nil {
		return "", nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil
	}
	if resp.ContentLength >= 0 && resp.ContentLength != p.size {
		return "", p.fail(ErrPushMismatch, resp.StatusCode, fmt.Sprintf("HEAD reports %d bytes, the local file has %d", resp.ContentLength, p.size))
	}
	d := pushServerSHA256(resp.Header)
	if d == nil {
		return "", nil
	}
	if !bytes.Equal(d, sum) {
		return "", p.fail(ErrPushMismatch, resp.StatusCode, fmt.Sprintf("HEAD reports sha-256 %x, the local file has %x", d, sum))
	}
	return "head digest", nil
}

// readBack compares the file's first and last 64 KiB with ranged GETs; ""
// when the server does not answer them with 206.
func (p *pusher) readBack(ctx context.Context) (string, error) {
	if p.size == 0 {
		return "", nil
	}
	const span = 64 << 10
	ranges := [][2]int64{{0, min(span, p.size)}}
	if p.size > span {
		ranges = append(ranges, [2]int64{max(span, p.size-span), p.size - max(span, p.size-span)})
	}
	for _, rg := range ranges {
		off, n := rg[0], rg[1]
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
		if err != nil {
			return "", nil
		}
		req.Header.Set("Range", httphdr.FormatRange(off, n))
		p.res.Requests++
		resp, err := p.c.Do(req)
		if err != nil {
			return "", nil
		}
		got, err := io.ReadAll(io.LimitReader(resp.Body, n+1))
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || err != nil ||
			httphdr.CheckContentRange(resp.Header.Get("Content-Range"), off, n, p.size) != nil {
			return "", nil
		}
		want := make([]byte, n)
		if _, err := p.f.ReadAt(want, off); err != nil {
			return "", p.fail(ErrPushFileChanged, 0, err.Error())
		}
		if !bytes.Equal(got, want) {
			return "", p.fail(ErrPushMismatch, resp.StatusCode, fmt.Sprintf("bytes %d-%d read back differ from the local file", off, off+n-1))
		}
	}
	return "ranged read-back", nil
}
