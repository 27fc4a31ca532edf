package fetch

import (
	"log/slog"
	"net/http"
	"time"
)

// Options configures Get. The zero value is useful: the current directory, a tuned
// HTTP client, 16 connections (4 per mirror), every mirror, no rate limit, two bad
// pieces before a mirror is quarantined, and hashes required.
type Options struct {
	// Dir is the target directory (default "."). Every file is written under it,
	// opened through os.Root, at the name the validated metalink gives.
	Dir string
	// Output renames the file of a single-file download (a name relative to Dir,
	// checked like a metalink name). It is an error with more than one selected file.
	Output string
	// Client sends every mirror request. Nil means a client built for this download:
	// keep-alive with many idle connections per host, HTTP/2 when offered, no
	// transparent gzip, a 64 KiB response-header cap, connect/TLS/first-byte timeouts,
	// at most 10 redirects, http and https only, never https to http, and credentials
	// dropped on any change of origin.
	Client *http.Client
	// Connections is the total number of concurrent requests, across all files (default
	// 16; no upper cap).
	Connections int
	// PerMirror is the number of concurrent requests to one mirror host (scheme, host
	// and port), across all files (default 4).
	PerMirror int
	// MaxFiles is the most files of a multi-file metalink downloading at once (default
	// 8; 1 downloads them one after another). They share Connections either way.
	MaxFiles int
	// MaxMirrors limits how many mirrors of a file are used (0: all, at most 64).
	MaxMirrors int
	// Location lists ISO 3166-1 country codes whose mirrors are preferred to any other
	// mirror of the same or worse priority (the --location flag).
	Location []string
	// LimitRate caps the total download rate of all files in bytes per second (0: unlimited).
	LimitRate int64
	// MirrorLimitRate caps each mirror host's download rate in bytes per second, across
	// all files (0: unlimited).
	MirrorLimitRate int64
	// MaxBadPieces is the number of pieces that failed their hash after which a mirror
	// is quarantined for the rest of the run (default 2).
	MaxBadPieces int
	// MaxRetries is the number of consecutive failed requests after which a mirror is
	// dropped (default 5). Each failure waits a jittered exponential backoff.
	MaxRetries int
	// MaxRetryAfter caps the wait a Retry-After header may impose (default 30s).
	MaxRetryAfter time.Duration
	// ConnectTimeout bounds TCP connect and TLS handshake of the default client (default 10s).
	ConnectTimeout time.Duration
	// LowSpeedTime and LowSpeedLimit: a request that receives fewer than LowSpeedLimit
	// bytes per second (default 1024) over a window of LowSpeedTime (default 5s) is
	// cancelled and its pieces go back to the pool. The first window also bounds the
	// wait for the response headers (the first-byte timeout).
	LowSpeedTime  time.Duration
	LowSpeedLimit int64
	// RequestSeconds is how many seconds of a mirror's measured throughput one request
	// may cover (default 2). Requests always end on piece boundaries.
	RequestSeconds float64
	// InsecureNoHash allows files that have no supported hash at all (nothing is verified).
	InsecureNoHash bool
	// RequireStrongHash refuses files whose only supported hashes are md5 or sha-1.
	RequireStrongHash bool
	// Overwrite allows replacing an existing file (or symlink: the link itself is
	// replaced, never its target) that differs from the metalink.
	Overwrite bool
	// Select restricts a multi-file metalink to the files whose names match one of these
	// path.Match globs (matched against the whole name and against its last component).
	Select []string
	// UserAgent is sent with every request (default "mlink").
	UserAgent string
	// OnEvent receives progress events. Calls are serialised; it must return quickly.
	OnEvent func(Event)
	// ProgressInterval is the period of EventProgress events (default 500ms).
	ProgressInterval time.Duration
	// Logger receives diagnostic records (nil: discarded).
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.Dir == "" {
		c.Dir = "."
	}
	if c.Connections <= 0 {
		c.Connections = 16
	}
	if c.PerMirror <= 0 {
		c.PerMirror = 4
	}
	if c.MaxFiles <= 0 {
		c.MaxFiles = maxFilesInFlight
	}
	if c.MaxMirrors <= 0 || c.MaxMirrors > maxMirrors {
		c.MaxMirrors = maxMirrors
	}
	if c.MaxBadPieces <= 0 {
		c.MaxBadPieces = 2
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 30 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.LowSpeedTime <= 0 {
		c.LowSpeedTime = 5 * time.Second
	}
	if c.LowSpeedLimit <= 0 {
		c.LowSpeedLimit = 1024
	}
	if c.RequestSeconds <= 0 {
		c.RequestSeconds = 2
	}
	if c.UserAgent == "" {
		c.UserAgent = "mlink"
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Client == nil {
		c.Client = NewClient(c.ConnectTimeout, c.Connections)
	}
	return c
}

// maxMirrors is the most mirrors one file uses (bad-piece bookkeeping is a uint64 mask).
const maxMirrors = 64
