package publish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlinkdev/mlink/internal/digest"
	"github.com/mlinkdev/mlink/internal/httphdr"
	"github.com/mlinkdev/mlink/metalink"
)

// Verdict is the outcome of checking one mirror of one file.
type Verdict string

// Verdicts of CheckMirrors. Every verdict but VerdictOK and VerdictSkipped is a failure.
const (
	// VerdictOK: reachable, right size, Range honoured exactly, every sampled piece matched.
	VerdictOK Verdict = "ok"
	// VerdictStale: the mirror serves another version of the file: another size, a
	// Digest/Repr-Digest header naming another hash, or every sampled piece (at least one)
	// differs.
	VerdictStale Verdict = "stale"
	// VerdictCorrupt: some but not all sampled pieces differ, or the body is content-encoded.
	VerdictCorrupt Verdict = "corrupt"
	// VerdictNoRange: the mirror answers Range requests with 200, a wrong or missing
	// Content-Range, multipart for a single range, or a wrong length.
	VerdictNoRange Verdict = "no-range"
	// VerdictDown: unreachable, TLS failure, timeout, or an error status (4xx/5xx).
	VerdictDown Verdict = "down"
	// VerdictSkipped: not checked (a scheme other than http/https); not a failure.
	VerdictSkipped Verdict = "skipped"
)

// Failed reports whether v counts as a failing mirror.
func (v Verdict) Failed() bool { return v != VerdictOK && v != VerdictSkipped }

// CheckOptions configures CheckMirrors. The zero value is useful.
type CheckOptions struct {
	// Client performs every request. nil means a client with TLS verification on,
	// transparent compression off, 64 KiB header cap, at most 5 redirects and no
	// https→http downgrade or non-http redirect. A caller's client should keep those
	// properties.
	Client *http.Client
	// Samples is the number of pieces fetched per mirror and verified against the
	// piece hashes (default 3; negative: none, only the probe).
	Samples int
	// Concurrency caps mirrors checked at once (default 8).
	Concurrency int
	// PerHost caps requests in flight to one host:port (default 2).
	PerHost int
	// Timeout bounds each request, headers and body (default 60 s).
	Timeout time.Duration
	// MaxWholeBytes: a file without piece hashes is verified by downloading it whole when
	// it is at most this big (default 16 MiB; negative: never).
	MaxWholeBytes int64
	// Seed makes the piece choice reproducible (0: random).
	Seed uint64
	// Logger receives debug lines (nil: discard).
	Logger *slog.Logger
}

func (o CheckOptions) withDefaults() CheckOptions {
	if o.Samples == 0 {
		o.Samples = 3
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.PerHost <= 0 {
		o.PerHost = 2
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MaxWholeBytes == 0 {
		o.MaxWholeBytes = 16 << 20
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = NewCheckClient()
	}
	return o
}

// NewCheckClient returns the client CheckMirrors uses by default: system roots, no
// transparent gzip, MaxResponseHeaderBytes 64 KiB, connection and TLS handshake
// timeouts, up to 5 redirects, never from https to http nor to another scheme.
func NewCheckClient() *http.Client {
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    4,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{Transport: tr, CheckRedirect: CheckRedirect}
}

// ErrRedirect is wrapped by CheckRedirect's refusals.
var ErrRedirect = errors.New("redirect refused")

// CheckRedirect is an http.Client CheckRedirect policy: at most 5 redirects, only to
// http or https, never from https to http (SECURITY.md rule 13).
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("%w: more than 5 redirects (last %s)", ErrRedirect, redact(req.URL))
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("%w: to scheme %q", ErrRedirect, s)
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme == "http" {
		return fmt.Errorf("%w: https to http downgrade to %s", ErrRedirect, redact(req.URL))
	}
	return nil
}

// redact returns u without userinfo and query, for messages.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.Fragment = ""
	return c.String()
}

// MirrorCheck is the result of checking one URL of one file.
type MirrorCheck struct {
	// File is the metalink file name; URL the mirror URL as in the metalink (userinfo removed).
	File string `json:"file"`
	URL  string `json:"url"`
	// Verdict and Reason (a short human explanation; empty for ok).
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
	// Status is the HTTP status of the probe request (0: no response).
	Status int `json:"status"`
	// TLS is "ok" for a verified https connection, "error" when TLS failed, "" for http.
	TLS string `json:"tls,omitempty"`
	// TLSExpiry is when the mirror's certificate expires (https only).
	TLSExpiry time.Time `json:"tls_expiry,omitzero"`
	// ReportedSize is the size the mirror reported (Content-Range total or, for a 200,
	// Content-Length); -1 when unknown.
	ReportedSize int64 `json:"reported_size"`
	// RangeOK reports that the probe got a 206 with exactly the Content-Range asked for.
	RangeOK bool `json:"range_ok"`
	// Sampled lists the pieces fetched, Bad those whose hash did not match.
	Sampled []int64 `json:"sampled"`
	Bad     []int64 `json:"bad"`
	// Whole reports that the file had no piece hashes and was verified whole.
	Whole bool `json:"whole,omitempty"`
	// Latency is the time from sending the probe to its response headers.
	Latency time.Duration `json:"latency_ns"`
	// Bytes is the body bytes read from the mirror; Throughput bytes/s over the samples.
	Bytes      int64   `json:"bytes"`
	Throughput float64 `json:"throughput"`
}

// CheckReport lists one MirrorCheck per (file, URL), in document order.
type CheckReport struct {
	Mirrors []MirrorCheck `json:"mirrors"`
}

// Failed counts failing mirrors.
func (r *CheckReport) Failed() int {
	n := 0
	for _, c := range r.Mirrors {
		if c.Verdict.Failed() {
			n++
		}
	}
	return n
}

// Prune returns a copy of m whose files keep only the URLs whose check did not fail.
// The input is not modified. URLs that were not checked are kept.
func (r *CheckReport) Prune(m *metalink.Metalink) *metalink.Metalink {
	bad := map[[2]string]bool{}
	for _, c := range r.Mirrors {
		if c.Verdict.Failed() {
			bad[[2]string{c.File, c.URL}] = true
		}
	}
	out := *m
	out.Files = make([]metalink.File, len(m.Files))
	for i, f := range m.Files {
		f.URLs = nil
		for _, u := range m.Files[i].URLs {
			if !bad[[2]string{f.Name, stripUserinfo(u.URL)}] {
				f.URLs = append(f.URLs, u)
			}
		}
		out.Files[i] = f
	}
	return &out
}

// CheckMirrors checks every http/https URL of every file of m: one probe request for
// byte 0 (reachability, TLS, status, size, exact Range support, latency), then
// opts.Samples randomly chosen pieces fetched by Range and verified against the
// strongest piece hashes (or, for a small file without piece hashes, the whole file
// against its strongest hash), and returns a verdict per mirror. A mirror's failure is
// part of the report, never an error; the error is only ctx's.
//
// Concurrency: at most opts.Concurrency mirrors are checked at once, each mirror's
// requests run one after another, and at most opts.PerHost requests are in flight to
// one host:port across all checks. Nothing is written to disk; bodies are hashed as
// they stream and discarded.
func CheckMirrors(ctx context.Context, m *metalink.Metalink, opts CheckOptions) (*CheckReport, error) {
	o := opts.withDefaults()
	c := &checker{o: o, hosts: map[string]chan struct{}{}}
	rep := &CheckReport{}
	type job struct {
		f *metalink.File
		u string
	}
	var jobs []job
	for i := range m.Files {
		for _, u := range m.Files[i].URLs {
			jobs = append(jobs, job{&m.Files[i], u.URL})
		}
	}
	rep.Mirrors = make([]MirrorCheck, len(jobs))
	g := new(errgroup.Group)
	g.SetLimit(o.Concurrency)
	for i, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
		g.Go(func() error {
			rep.Mirrors[i] = c.check(ctx, j.f, j.u, rng)
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

type checker struct {
	o     CheckOptions
	mu    sync.Mutex
	hosts map[string]chan struct{} // guarded by mu; per-host semaphores
}

// acquire takes a per-host slot; the returned func releases it.
func (c *checker) acquire(ctx context.Context, host string) (func(), error) {
	c.mu.Lock()
	sem, ok := c.hosts[host]
	if !ok {
		sem = make(chan struct{}, c.o.PerHost)
		c.hosts[host] = sem
	}
	c.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func stripUserinfo(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// fetchResult is one ranged GET.
type fetchResult struct {
	resp    *http.Response
	latency time.Duration
}

// get sends a GET (with Range when rng != "") under the per-host limit; the caller
// reads and closes the body, then calls the returned release.
func (c *checker) get(ctx context.Context, u *url.URL, rng string) (*fetchResult, context.CancelFunc, error) {
	release, err := c.acquire(ctx, u.Host)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	done := func() { cancel(); release() }
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		done()
		return nil, nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "mlink-mirrors-check")
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	start := time.Now()
	resp, err := c.o.Client.Do(req)
	if err != nil {
		done()
		return nil, nil, err
	}
	return &fetchResult{resp: resp, latency: time.Since(start)}, func() { resp.Body.Close(); done() }, nil
}

func (c *checker) check(ctx context.Context, f *metalink.File, raw string, rng *rand.Rand) (mc MirrorCheck) {
	mc = MirrorCheck{File: f.Name, URL: stripUserinfo(raw), ReportedSize: -1, Sampled: []int64{}, Bad: []int64{}}
	defer func() {
		c.o.Logger.Debug("mirror checked", "file", f.Name, "url", mc.URL, "verdict", mc.Verdict, "reason", mc.Reason)
	}()
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		mc.Verdict, mc.Reason = VerdictSkipped, "not an http(s) URL"
		return mc
	}
	u.User = nil // credentials never go to mirrors
	if u.Scheme == "https" {
		mc.TLS = "ok"
	}

	// Probe: byte 0 (or, for an empty file, the whole empty body).
	probeRange := httphdr.FormatRange(0, 1)
	if f.Size == 0 {
		probeRange = ""
	}
	fr, release, err := c.get(ctx, u, probeRange)
	if err != nil {
		mc.Verdict, mc.Reason = VerdictDown, describeNetErr(err)
		if isTLSError(err) {
			mc.TLS = "error"
		}
		return mc
	}
	resp := fr.resp
	mc.Latency = fr.latency
	mc.Status = resp.StatusCode
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		mc.TLSExpiry = resp.TLS.PeerCertificates[0].NotAfter
	}
	if resp.Request != nil && resp.Request.URL.Scheme == "http" && u.Scheme == "https" {
		mc.TLS = "error" // unreachable with CheckRedirect, kept for custom clients
	}
	mc.ReportedSize = reportedSize(resp)
	verdict, reason := c.judgeProbe(resp, f, probeRange != "")
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	mc.Bytes += n
	release()
	if verdict != "" {
		mc.Verdict, mc.Reason = verdict, reason
		return mc
	}
	mc.RangeOK = probeRange != ""

	// Samples.
	if c.o.Samples < 0 || f.Size <= 0 {
		mc.Verdict = VerdictOK
		return mc
	}
	var elapsed time.Duration
	var sampledBytes int64
	if p := f.StrongestPieces(); p != nil && p.Count(f.Size) == int64(len(p.Hashes)) {
		for _, i := range choose(rng, p.Count(f.Size), c.o.Samples) {
			off, length, _ := p.Piece(f.Size, i)
			mc.Sampled = append(mc.Sampled, i)
			ok, n, d, verdict, reason := c.sample(ctx, u, f, off, length, p.Type, p.Hashes[i])
			mc.Bytes += n
			if verdict != "" {
				mc.Verdict, mc.Reason = verdict, fmt.Sprintf("piece %d: %s", i, reason)
				return mc
			}
			elapsed += d
			sampledBytes += n
			if !ok {
				mc.Bad = append(mc.Bad, i)
			}
		}
	} else if h, ok := f.StrongestHash(); ok && c.o.MaxWholeBytes > 0 && f.Size <= c.o.MaxWholeBytes {
		mc.Whole = true
		ok, n, d, verdict, reason := c.sample(ctx, u, f, 0, f.Size, h.Type, h.Value)
		mc.Bytes += n
		if verdict != "" {
			mc.Verdict, mc.Reason = verdict, reason
			return mc
		}
		elapsed, sampledBytes = d, n
		if !ok {
			mc.Bad = append(mc.Bad, 0)
		}
		mc.Sampled = append(mc.Sampled, 0)
	}
	if elapsed > 0 {
		mc.Throughput = float64(sampledBytes) / elapsed.Seconds()
	}
	switch {
	case len(mc.Sampled) > 0 && len(mc.Bad) == len(mc.Sampled):
		mc.Verdict = VerdictStale
		mc.Reason = "every sampled piece differs: another version of the file"
		if mc.Whole {
			mc.Reason = "whole-file hash differs"
		}
	case len(mc.Bad) > 0:
		mc.Verdict = VerdictCorrupt
		mc.Reason = fmt.Sprintf("%d of %d sampled pieces differ", len(mc.Bad), len(mc.Sampled))
	default:
		mc.Verdict = VerdictOK
	}
	return mc
}

// judgeProbe classifies the probe response; "" means it is fine.
func (c *checker) judgeProbe(resp *http.Response, f *metalink.File, ranged bool) (Verdict, string) {
	switch {
	case resp.StatusCode >= 400:
		return VerdictDown, "HTTP " + strconv.Itoa(resp.StatusCode) + retryAfterNote(resp)
	case resp.StatusCode >= 300:
		return VerdictDown, "HTTP " + strconv.Itoa(resp.StatusCode) + " (redirect not followed)"
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return VerdictCorrupt, "Content-Encoding " + ce + " (bytes differ from the file)"
	}
	if !ranged || resp.StatusCode == http.StatusOK {
		if resp.ContentLength >= 0 && f.Size >= 0 && resp.ContentLength != f.Size {
			return VerdictStale, fmt.Sprintf("size %d, metalink says %d", resp.ContentLength, f.Size)
		}
		if reason := httphdr.DigestMismatch(resp.Header, f.Hashes); reason != "" {
			return VerdictStale, reason
		}
		if ranged {
			return VerdictNoRange, "answered a Range request with 200 and the whole file"
		}
		return "", ""
	}
	if resp.StatusCode != http.StatusPartialContent {
		return VerdictDown, "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(strings.ToLower(ct), "multipart/") {
		return VerdictNoRange, "multipart answer to a single range"
	}
	cr := resp.Header.Get("Content-Range")
	_, _, total, perr := httphdr.ParseContentRange(cr)
	if perr == nil && total >= 0 && f.Size >= 0 && total != f.Size {
		return VerdictStale, fmt.Sprintf("size %d, metalink says %d", total, f.Size)
	}
	if reason := httphdr.DigestMismatch(resp.Header, f.Hashes); reason != "" {
		return VerdictStale, reason
	}
	if err := httphdr.CheckContentRange(cr, 0, 1, f.Size); err != nil {
		if cr == "" {
			return VerdictNoRange, "206 without Content-Range"
		}
		return VerdictNoRange, fmt.Sprintf("Content-Range %q for bytes 0-0", clipString(cr))
	}
	if resp.ContentLength >= 0 && resp.ContentLength != 1 {
		return VerdictNoRange, fmt.Sprintf("Content-Length %d for a 1-byte range", resp.ContentLength)
	}
	return "", ""
}

// reportedSize is the file size a response states: the Content-Range total of a 206,
// the Content-Length of a 200, else -1.
func reportedSize(resp *http.Response) int64 {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if _, _, total, err := httphdr.ParseContentRange(resp.Header.Get("Content-Range")); err == nil {
			return total
		}
	case http.StatusOK:
		return resp.ContentLength
	}
	return -1
}

func retryAfterNote(resp *http.Response) string {
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		return " (Retry-After " + clipString(ra) + ")"
	}
	return ""
}

func clipString(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// sample fetches [off, off+length) with a strict ranged GET and compares its hash.
// verdict is non-empty when the response itself disqualifies the mirror.
func (c *checker) sample(ctx context.Context, u *url.URL, f *metalink.File, off, length int64, alg, wantHex string) (ok bool, n int64, d time.Duration, verdict Verdict, reason string) {
	h, err := digest.New(alg)
	if err != nil {
		return false, 0, 0, VerdictSkipped, err.Error()
	}
	start := time.Now()
	ranged := !(off == 0 && length == f.Size)
	rng := ""
	if ranged {
		rng = httphdr.FormatRange(off, length)
	}
	fr, release, err := c.get(ctx, u, rng)
	if err != nil {
		return false, 0, 0, VerdictDown, describeNetErr(err)
	}
	defer release()
	resp := fr.resp
	if v, r := c.judgeRange(resp, f, off, length, ranged); v != "" {
		return false, 0, 0, v, r
	}
	n, err = io.Copy(h, io.LimitReader(resp.Body, length+1))
	d = time.Since(start)
	if err != nil {
		return false, n, d, VerdictDown, "body: " + describeNetErr(err)
	}
	if n != length {
		return false, n, d, VerdictNoRange, fmt.Sprintf("body of %d bytes for a %d-byte range", n, length)
	}
	return hex.EncodeToString(h.Sum(nil)) == strings.ToLower(wantHex), n, d, "", ""
}

// judgeRange applies SECURITY.md rules 7 and 8 to a sample response.
func (c *checker) judgeRange(resp *http.Response, f *metalink.File, off, length int64, ranged bool) (Verdict, string) {
	switch {
	case resp.StatusCode >= 400:
		return VerdictDown, "HTTP " + strconv.Itoa(resp.StatusCode) + retryAfterNote(resp)
	case ranged && resp.StatusCode == http.StatusOK:
		return VerdictNoRange, "answered a Range request with 200"
	case ranged && resp.StatusCode != http.StatusPartialContent, !ranged && resp.StatusCode != http.StatusOK:
		return VerdictDown, "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return VerdictCorrupt, "Content-Encoding " + ce
	}
	if ranged {
		if err := httphdr.CheckContentRange(resp.Header.Get("Content-Range"), off, length, f.Size); err != nil {
			return VerdictNoRange, err.Error()
		}
	}
	if resp.ContentLength >= 0 && resp.ContentLength != length {
		return VerdictNoRange, fmt.Sprintf("Content-Length %d, want %d", resp.ContentLength, length)
	}
	return "", ""
}

// choose picks min(k, n) distinct piece indexes in [0, n), sorted.
func choose(rng *rand.Rand, n int64, k int) []int64 {
	if int64(k) >= n {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	seen := map[int64]bool{}
	out := make([]int64, 0, k)
	for len(out) < k {
		i := rng.Int64N(n)
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

func isTLSError(err error) bool {
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var re *tls.RecordHeaderError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &re) || errors.As(err, &ve)
}

// describeNetErr shortens a client error for the table (the *url.Error prefix repeats the URL).
func describeNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if isTLSError(err) {
		return "TLS: " + err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}
