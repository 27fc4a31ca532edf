package mirrortest

import (
	"io"
	"net"
	"net/http"
	"time"
)

// Option configures a Mirror. Options are applied in order; later ones win.
type Option func(*config)

type corruptRange struct{ off, length int64 }

type fileEntry struct {
	path string
	r    io.ReaderAt
	size int64
}

type config struct {
	path  string
	files []fileEntry

	listener net.Listener
	tls      bool
	tlsKind  certKind
	reset    bool

	corrupt         []corruptRange
	corruptPieceLen int64
	corruptPieces   []int64
	corruptFraction float64
	corruptSeed     uint64

	ignoreRange  bool
	dropAfter    int64 // per response, -1 = off
	dropAfterAll int64 // total, -1 = off
	dieAfter     int64 // -1 = off
	stallHeaders bool
	stallAfter   int64 // -1 = off
	trickle      float64
	throttle     float64
	latency      time.Duration
	slowClose    time.Duration
	contentRange func(first, last, total int64) string
	multipart    bool
	longBody     int64
	badLength    Framing
	gzip         bool
	failStatus   int
	failFirst    int
	retryAfter   string
	redirects    map[string]string
	redirectAll  string
	redirectLoop bool
	redirectCode int
	hugeHeader   int
	earlyHints   bool
	recordLimit  int
	etag         string
	etagSet      bool
	wrap         func(http.Handler) http.Handler
	lastModified time.Time
	extraHeaders http.Header
}

func defaultConfig() *config {
	return &config{
		path:         "/file.bin",
		dropAfter:    -1,
		dropAfterAll: -1,
		dieAfter:     -1,
		stallAfter:   -1,
		redirectCode: http.StatusFound,
		recordLimit:  10000,
		lastModified: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// Path sets the URL path the content is served at (default "/file.bin").
func Path(p string) Option { return func(c *config) { c.path = p } }

// File serves another file at path p with the same misbehaviours (offsets of
// corruption options are relative to each file).
func File(p string, content []byte) Option {
	return func(c *config) { c.files = append(c.files, fileEntry{p, bytesReaderAt(content), int64(len(content))}) }
}

// Listener makes the mirror serve on l instead of a new listener on 127.0.0.1:0
// (the mirrortest binary uses it to serve on a chosen address). The mirror closes l.
func Listener(l net.Listener) Option { return func(c *config) { c.listener = l } }

// TLS serves HTTPS with a fresh self-signed certificate for 127.0.0.1 and localhost;
// clients must trust Mirror.CertPool (or use Mirror.Client) to connect, so a client
// with the system roots sees a certificate error (SECURITY.md case 66).
func TLS() Option { return func(c *config) { c.tls = true } }

// TLSExpired is TLS with a certificate that expired yesterday (case 66).
func TLSExpired() Option { return func(c *config) { c.tls, c.tlsKind = true, certExpired } }

// TLSWrongHost is TLS with a certificate for another host name only (case 66).
func TLSWrongHost() Option { return func(c *config) { c.tls, c.tlsKind = true, certWrongHost } }

// CorruptRange flips every byte of [off, off+length) in what the mirror serves.
func CorruptRange(off, length int64) Option {
	return func(c *config) { c.corrupt = append(c.corrupt, corruptRange{off, length}) }
}

// CorruptPieces corrupts the given pieces (pieces of pieceLength bytes): the first
// byte of each is flipped.
func CorruptPieces(pieceLength int64, pieces ...int64) Option {
	return func(c *config) {
		c.corruptPieceLen = pieceLength
		c.corruptPieces = append(c.corruptPieces, pieces...)
	}
}

// CorruptFraction corrupts a deterministic pseudo-random fraction (0..1) of the pieces
// of pieceLength bytes, chosen by seed (the same seed picks the same pieces).
// Mirror.CorruptedPieces lists them.
func CorruptFraction(pieceLength int64, fraction float64, seed uint64) Option {
	return func(c *config) {
		c.corruptPieceLen = pieceLength
		c.corruptFraction = fraction
		c.corruptSeed = seed
	}
}

// IgnoreRange answers every request, Range or not, with 200 and the full body
// (SECURITY.md case 46).
func IgnoreRange() Option { return func(c *config) { c.ignoreRange = true } }

// DropAfter closes the connection after n body bytes of every response (case 51, 55).
func DropAfter(n int64) Option { return func(c *config) { c.dropAfter = n } }

// ResetAfter sends n body bytes of every response, then resets the connection (TCP RST
// instead of an orderly close; case 55).
func ResetAfter(n int64) Option { return func(c *config) { c.dropAfter, c.reset = n, true } }

// DropAfterTotal cuts the one response during which the mirror's total body bytes
// reach n, closing its connection; later responses are served normally.
func DropAfterTotal(n int64) Option { return func(c *config) { c.dropAfterAll = n } }

// DieAfter makes the mirror die once it has served n body bytes in total: its
// listener and every connection are closed, and new connections are refused.
func DieAfter(n int64) Option { return func(c *config) { c.dieAfter = n } }

// Stall accepts connections and reads requests but never answers (case 56).
func Stall() Option { return func(c *config) { c.stallHeaders = true } }

// StallAfter sends the headers and n body bytes of each response, then stalls.
func StallAfter(n int64) Option { return func(c *config) { c.stallAfter = n } }

// Trickle limits each response to bytesPerSecond (case 57).
func Trickle(bytesPerSecond float64) Option { return func(c *config) { c.trickle = bytesPerSecond } }

// Throttle limits the whole mirror to bytesPerSecond shared across all its connections
// (golang.org/x/time/rate; tokens are charged after each write of at most the burst).
func Throttle(bytesPerSecond float64) Option { return func(c *config) { c.throttle = bytesPerSecond } }

// Latency delays every response by d before its status line (case 58).
func Latency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// SlowClose ends every GET of a file by half-closing the connection (FIN after the
// body) and keeping it open for d before closing it (case 59, toxiproxy slow_close).
// The connection is not reused.
func SlowClose(d time.Duration) Option { return func(c *config) { c.slowClose = d } }

// ContentRange replaces the Content-Range header of every 206 with f(first, last, total)
// computed from the true one; f returning "" removes the header (case 49).
func ContentRange(f func(first, last, total int64) string) Option {
	return func(c *config) { c.contentRange = f }
}

// ShiftContentRange sends a Content-Range whose start and end are moved by delta while
// the body is right for the request (case 47: delta -100 turns 100-199 into 0-99).
func ShiftContentRange(delta int64) Option {
	return ContentRange(func(first, last, total int64) string {
		return "bytes " + itoa(first+delta) + "-" + itoa(last+delta) + "/" + itoa(total)
	})
}

// WrongTotal sends Content-Range totals (and nothing else) saying the file has total bytes
// (case 48).
func WrongTotal(total int64) Option {
	return ContentRange(func(first, last, _ int64) string {
		return "bytes " + itoa(first) + "-" + itoa(last) + "/" + itoa(total)
	})
}

// NoContentRange sends 206 responses without a Content-Range header (case 49).
func NoContentRange() Option { return ContentRange(func(int64, int64, int64) string { return "" }) }

// MultipartSingle answers a single-range request with a multipart/byteranges 206 (case 50).
func MultipartSingle() Option { return func(c *config) { c.multipart = true } }

// LongBody answers range requests with a 206 whose Content-Range is right but that sends
// extra bytes past the end of the range, with no Content-Length and Connection: close
// (case 52).
func LongBody(extra int64) Option { return func(c *config) { c.longBody = extra } }

// Framing names a broken way of framing a response body (case 53).
type Framing int

// Broken framings for BadFraming.
const (
	// TwoContentLengths sends two differing Content-Length headers.
	TwoContentLengths Framing = iota + 1
	// ChunkedWithLength sends Transfer-Encoding: chunked and a Content-Length.
	ChunkedWithLength
	// NegativeLength sends Content-Length: -1.
	NegativeLength
)

// BadFraming answers every GET with a response framed as f says (written raw on the
// connection, HTTP/1.1 only).
func BadFraming(f Framing) Option { return func(c *config) { c.badLength = f } }

// Gzip sends bodies (206 included) gzip-compressed with Content-Encoding: gzip (case 54).
func Gzip() Option { return func(c *config) { c.gzip = true } }

// Fail answers the first n requests (n <= 0: all) with status and, when retryAfter is not
// empty, a Retry-After header (cases 60-61: 404, 403, 410, 429, 503).
func Fail(status, n int, retryAfter string) Option {
	return func(c *config) { c.failStatus, c.failFirst, c.retryAfter = status, n, retryAfter }
}

// Redirect answers requests for the served path with a 302 to target (another mirror,
// "file:///etc/passwd", an http:// downgrade; case 63-64). Other paths are unaffected.
func Redirect(target string) Option { return func(c *config) { c.redirectAll = target } }

// RedirectPath answers requests for path p with a 302 to target (a URL or a path on
// this mirror), building chains such as a → b/1 → b/2.
func RedirectPath(p, target string) Option {
	return func(c *config) {
		if c.redirects == nil {
			c.redirects = map[string]string{}
		}
		c.redirects[p] = target
	}
}

// RedirectLoop answers every request with a redirect to the same path with a new query,
// forever (case 62).
func RedirectLoop() Option { return func(c *config) { c.redirectLoop = true } }

// RedirectCode sets the status of redirects (default 302).
func RedirectCode(code int) Option { return func(c *config) { c.redirectCode = code } }

// HugeHeader adds a response header of n bytes to every response (case 68).
func HugeHeader(n int) Option { return func(c *config) { c.hugeHeader = n } }

// EarlyHints sends a 103 Early Hints interim response (with a misleading Link and
// Content-Disposition) before every final response (case 67).
func EarlyHints() Option { return func(c *config) { c.earlyHints = true } }

// Header adds a header to every file response (e.g. Link or Digest for Metalink/HTTP).
func Header(name, value string) Option {
	return func(c *config) {
		if c.extraHeaders == nil {
			c.extraHeaders = http.Header{}
		}
		c.extraHeaders.Add(name, value)
	}
}

// ETag sets the ETag of the served file (default: a strong tag derived from the content
// length and the configured path; "" sends none).
func ETag(tag string) Option { return func(c *config) { c.etag, c.etagSet = tag, true } }

// RecordLimit caps how many requests the mirror records for Mirror.Requests (default
// 10000; counters keep counting).
func RecordLimit(n int) Option { return func(c *config) { c.recordLimit = n } }

// Wrap puts h around the mirror's handler, for misbehaviour no option covers.
func Wrap(h func(http.Handler) http.Handler) Option { return func(c *config) { c.wrap = h } }
