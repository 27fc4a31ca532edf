package fetch

import "time"

// EventKind says what an Event reports.
type EventKind int

// The event kinds.
const (
	// EventFileStart: a file's download begins (Size, Pieces set).
	EventFileStart EventKind = iota + 1
	// EventProgress: periodic snapshot; Mirrors holds every mirror of the file.
	EventProgress
	// EventPieceDone: piece Piece verified and written (Mirror delivered it).
	EventPieceDone
	// EventPieceBad: piece Piece from Mirror failed its hash.
	EventPieceBad
	// EventMirrorState: Mirror changed state (State says to what; Err why).
	EventMirrorState
	// EventFileDone: the file verified and has its final name (or was already complete).
	EventFileDone
	// EventFileFailed: the file could not be completed (Err).
	EventFileFailed
	// EventWarning: a non-fatal finding (Message), e.g. a weak hash or an ignored URL.
	EventWarning
)

// Event is one progress notification passed to Options.OnEvent.
type Event struct {
	Kind EventKind
	// File is the metalink name of the file concerned.
	File string
	// Size and Done are the file size and the verified bytes so far.
	Size, Done int64
	// Pieces is the piece count of the file; Piece the piece concerned (or -1).
	Pieces, Piece int
	// Mirror is the redacted URL of the mirror concerned, if any.
	Mirror string
	// State is the mirror's new state (EventMirrorState).
	State MirrorState
	// Speed is the total download speed in bytes per second (EventProgress).
	Speed float64
	// Mirrors is a snapshot of every mirror of the file (EventProgress).
	Mirrors []MirrorReport
	// Message is the text of a warning.
	Message string
	// Err is the cause of a failure or state change.
	Err error
}

// MirrorState is the final or current state of a mirror.
type MirrorState string

// Mirror states.
const (
	MirrorIdle        MirrorState = "idle"        // not used (yet)
	MirrorActive      MirrorState = "active"      // serving requests
	MirrorBackoff     MirrorState = "backoff"     // waiting after errors or Retry-After
	MirrorNoRange     MirrorState = "no-range"    // answered 200 to Range; sequential fallback only
	MirrorQuarantined MirrorState = "quarantined" // sent MaxBadPieces bad pieces
	MirrorDropped     MirrorState = "dropped"     // wrong size, 4xx, too many errors, bad responses
	MirrorIgnored     MirrorState = "ignored"     // unsupported scheme, or beyond MaxMirrors
	// MirrorChanged: the mirror's file changed since its validators were taken (a 200
	// to If-Range, or a 206 with another ETag or Last-Modified); nothing more is read from it.
	MirrorChanged MirrorState = "changed"
)

// Report is what Get did, per file and per mirror.
type Report struct {
	Files []FileReport `json:"files"`
	// Bytes is the total number of body bytes received from all mirrors (including
	// bytes later discarded: bad pieces, lost races).
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
}

// FileReport is the outcome for one file.
type FileReport struct {
	Name string `json:"name"`
	// Path is the final path (Dir joined with the name).
	Path string `json:"path"`
	Size int64  `json:"size"`
	// State is "done", "already-complete" or "failed".
	State string `json:"state"`
	// Error is the failure, if any.
	Error string `json:"error,omitempty"`
	// Hash is the whole-file hash that verified ("sha-256:..."), empty when none did.
	Hash string `json:"hash,omitempty"`
	// Pieces is the piece count; BadPieces the pieces that failed their hash; Resumed
	// the pieces found verified in the part file of an interrupted run (not fetched).
	Pieces    int `json:"pieces"`
	BadPieces int `json:"bad_pieces"`
	Resumed   int `json:"resumed_pieces,omitempty"`
	// ResumedPartial is the bytes at the start of unfinished pieces found in the part
	// file of an interrupted run: only the rest of those pieces was requested (each is
	// still verified whole).
	ResumedPartial int64 `json:"resumed_partial_bytes,omitempty"`
	// Restarted counts how often the download started over from zero: a file without
	// piece hashes whose source changed while chunks of the old version were held
	// (those chunks cannot be told apart from the new ones, so all were discarded).
	Restarted int `json:"restarted,omitempty"`
	// Bytes received from mirrors for this file (waste = Bytes / Size).
	Bytes    int64          `json:"bytes"`
	Duration time.Duration  `json:"duration_ns"`
	Mirrors  []MirrorReport `json:"mirrors"`
}

// MirrorReport is what one mirror did for one file.
type MirrorReport struct {
	URL   string      `json:"url"`
	State MirrorState `json:"state"`
	// Bytes is the body bytes received; Good the bytes of pieces it delivered that won.
	Bytes int64 `json:"bytes"`
	Good  int64 `json:"good"`
	// Speed is the current (EventProgress) or average (Report) speed in bytes/s.
	Speed     float64 `json:"speed"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	BadPieces int     `json:"bad_pieces"`
	// LastError is the last error seen from this mirror.
	LastError string `json:"last_error,omitempty"`
}
