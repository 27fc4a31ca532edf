// Package fetch downloads the files of a metalink from many mirrors at once, verifying
// every piece as it arrives and the whole file before it gets its final name.
//
// # Use
//
//	rep, err := fetch.Get(ctx, m, fetch.Options{Dir: "downloads", OnEvent: show})
//
// Options has a useful zero value. Report says, per file and per mirror, what was
// received, from whom, at what speed, with how many errors and bad pieces, and in
// which state each mirror ended. Errors wrap the sentinels ErrNoSource, ErrVerify,
// ErrExists, ErrNoHash, ErrWeakHash, ... and *PieceError{File, Index, Mirror, Err}.
//
// # Scheduling
//
// A file is cut into pieces: its strongest piece-hash set, or (without piece hashes)
// 16 KiB..1 MiB units that are only verified by the whole-file hash. The connection
// budget (Connections) is handed to mirrors in preference order (Location first, then
// metalink priority, ties shuffled), at most PerMirror each; mirrors beyond the budget
// are standbys that take over the slots of mirrors that fail. Each worker loops:
//
//  1. take the lowest run of unassigned pieces as one Range request; its length is
//     RequestSeconds of the mirror's measured per-connection throughput (an EWMA
//     updated at every piece), at least one piece and at most a fair share of what is
//     left, so a request always ends on a piece boundary and a slow mirror never
//     holds more than a few seconds of work;
//  2. when nothing is unassigned, steal the back half of the unstarted tail of the
//     request that would finish last, if this mirror would finish it in less than
//     half the time and sooner by more than RequestSeconds/8 (cutting a request
//     costs its connection and whatever the server had already sent);
//  3. end-game: otherwise race the in-flight piece whose owner would finish last (at
//     most two copies of a piece), if this mirror is expected to be faster by the same
//     margin (and by a quarter; under LimitRate only pieces more than 2 s behind,
//     since a copy then takes bandwidth from the original); an unmeasured mirror may
//     race. The first
//     verified copy is written; the other request is cancelled (errLostRace) without
//     blame.
//
// Requests ask for exactly the bytes of their pieces and read at most that many.
// A response must be 206 with a Content-Range exactly as asked and a total equal to
// the metalink size (else the mirror is dropped: it serves another file), identity
// encoding, not multipart, and a matching Content-Length (SECURITY.md rules 7, 8).
// A mirror whose Digest or Repr-Digest header names another whole-file digest than
// the metalink's hash of that algorithm serves another version: it is dropped
// before its body is read (ErrStale; RFC 6249 section 7).
// A 200 to a Range request marks the mirror range-less at once and nothing of that
// body is used; when every other mirror is gone, or every one left has sent a missing
// piece bad, a range-less mirror may make one sequential pass from offset 0 (pieces
// already held are skipped), never two.
// 404/403/410 and other 4xx drop the mirror; 5xx, resets and stalls back off with
// jittered exponential delays (Retry-After honoured up to MaxRetryAfter) and drop the
// mirror after MaxRetries consecutive failures; each piece also has a bounded number
// of failures. A request receiving less than LowSpeedLimit bytes/s over LowSpeedTime
// (this also bounds the wait for headers) is cancelled and its pieces reassigned.
// The rate limiters (LimitRate overall, MirrorLimitRate per mirror) are charged after
// each read, in reads no larger than their burst.
//
// # Verification
//
// Each piece streams into a pooled buffer and is hashed once whole; a piece counts
// (have, journal, whole-file hash) only once verified. With piece hashes, the request that
// owns a piece larger than 256 KiB also writes what it receives into the part file
// every 256 KiB, unverified, so that a run killed in the middle of the piece leaves
// its first bytes for the next one (see Resume); the verified copy is written last and
// a claimant waits for other streaming writes to the piece to end, so no late bytes of
// a losing request land on it. What a failed response (short, reset, stalled) or a
// piece that failed its hash had streamed is overwritten with zeros (SECURITY.md rules
// 2 and 8); an interruption keeps it. A bad piece is never asked again from the same
// mirror; the mirror is quarantined after MaxBadPieces (if it has also sent good
// pieces, its other requests finish the piece each is receiving, verified like any
// other, and read nothing after it; if not, they are cut at once). When some missing
// piece has no mirror left that may serve it, the file fails with ErrNoSource (exit 3
// in the CLI).
// Every supported whole-file hash is computed incrementally in piece order while
// pieces complete (pieces that arrive early wait in memory, up to 4 MiB, else are
// read back from the part file), so an in-order download is never read twice; the
// file gets its final name only if all of them match. One goroutine per file
// (wholeHasher) does all of a file's hashing, two SHA-256 streams at a time in one
// interleaved SHA-NI pass where it can (digest.Write2, little more than the cost of
// one): a piece to verify with the next piece of the whole-file hash; the next piece
// itself for both hashes at once (the whole-file state is saved first and restored if
// the piece is bad); or two pieces to verify. Whole-file work never waits for a
// partner (it would end up as a tail of hashing after the last byte). On 4 unthrottled
// mirrors (bench/peers.sh unthrottled) mlink used 1.04-1.20 s of CPU against aria2c's
// 1.32-1.51 s in the same runs, from 1.29 s before this pairing. A file without piece hashes is
// still downloaded in parallel, but a bad mirror can only be detected by the
// whole-file hash at the end: the part file is then discarded and Get returns
// ErrVerify (exit 3). No supported hash at all is refused unless InsecureNoHash; md5
// or sha-1 only gives an EventWarning (RequireStrongHash refuses).
//
// A file whose metalink gives no size cannot be split: it is fetched with one plain
// GET at a time, mirrors in preference order, hashed while it streams, and the first
// copy that matches every whole-file hash wins (each mirror is asked once).
//
// # Concurrency
//
// One goroutine per connection slot (worker), one per file for the hashes, plus the
// caller's, which emits progress events and waits. All scheduling state of a file lives in job and is guarded by
// job.mu (helpers ending in Locked); byte counters are atomic. Workers end when the
// file is complete or failed, when their mirror becomes unusable, or when ctx is
// cancelled; Get returns only after all of them ended. OnEvent calls are serialised.
//
// Files of a multi-file metalink download at once under one budget (getter): each
// file keeps its own scheduler (job), and a worker holds, for the time of each
// request, a token of its mirror's host (PerMirror per scheme://host:port, across all
// files) and then one of the global budget (Connections across all files); the
// LimitRate limiter is one for everything and the MirrorLimitRate limiter one per host.
// The next file (in metalink order) starts once the previous one has begun and either
// every running file has handed out all its pieces (job.tail: only its last requests
// and end-game races are left) or part of the global budget stayed unused for 10 ms; at
// most MaxFiles (default 8) run at once. Events carry their File, and may interleave across files.
// The report lists the files in metalink order; a failed file does not stop the others
// and Get's error joins every file's error.
//
// # Disk
//
// Names come only from the validated metalink (or Options.Output) and are opened
// through os.Root under Dir, so symlinks cannot lead outside it. The data goes to
// NAME.part (NAME.<random>.part when a file of that name exists that this run did not
// create), created exclusively with mode 0644 (minus umask) and preallocated. After
// verification the part file is fsynced and hard-linked to NAME, which fails if NAME
// appeared meanwhile (the verified part is then kept and named in the error), then
// the part name is removed and the directory fsynced. With Overwrite the part file is
// renamed over NAME (a symlink is replaced, not followed). An existing NAME that
// verifies is reported "already-complete" with no network request; one that differs
// is left untouched and ErrExists returned.
//
// Preflight, before any request: the target directory must take a new file (a probe
// file is created and removed, so a read-only mount or directory is reported at once)
// and its file system must have room for the bytes still missing (statfs: each selected
// file's size less what its final or part file already occupies), else ErrNoSpace: "no
// space left on DIR: need X, Y free".
//
// What a failure leaves: a verification failure or ErrNoSource removes the part file
// and its journal (nothing reaches the final name); cancellation of ctx keeps both for
// resume. A full disk during the download (ENOSPC or EDQUOT from a write, an fsync or
// the journal, when the file system could not preallocate or another writer took the
// room) ends the download with ErrNoSpace and keeps NAME.part and its journal: the
// journal claims only fsynced pieces and the next run hash-scans the part file, so the
// same call, once space is freed, keeps every verified piece. Other write or fsync
// errors end the download and remove the part file.
//
// # Resume
//
// Before creating anything, Get takes NAME.part.lock (flock; ErrLocked when another
// process downloads the same output). While pieces complete, a resume journal
// NAME.part.mlj (fetch/journal.go) records them: the engine hands each verified and
// written piece to a journalSink (the pieceSink of job), which every second fsyncs the
// part file and only then saves the journal atomically, so the journal never claims an
// unsynced piece; an empty journal is saved as soon as NAME.part is created. On the
// next run, when NAME.part.mlj exists, NAME.part is this program's: with piece hashes
// every piece of it is hash-scanned (hashing is cheaper than fetching, and pieces
// written after the last commit usually survive a kill), otherwise the journal's claims
// are taken; a damaged journal, or one of another version of the file, also means a
// hash scan. The good pieces are marked in
// the per-file "have" bitmap (job.have) and fed to the whole-file hasher from disk
// (wholeHasher.present); only the others are fetched (Report: Resumed). Of a missing
// piece, the bytes found at its start (streamed by the interrupted run: up to its last
// non-zero byte, zeros being what was never written) are kept too, and its request
// asks only for the rest (Report: ResumedPartial); the piece is verified whole, and a
// wrong prefix (never fsynced before a crash, damaged) is dropped and the piece fetched
// whole without blaming the mirror. A kill then costs at most one streaming batch
// (256 KiB) per connection instead of half a piece on average. An existing
// NAME.part without a journal is somebody else's and is never touched (another part
// name is used, without a journal). Repair: see below.
//
// # Validators and If-Range
//
// The first good 206 of each mirror gives its validators: the ETag unless weak, and the
// Last-Modified date only when at least one second before the response's Date (RFC
// 9110 13.1.5). They are kept in the journal (per mirror URL) and sent as If-Range
// (the ETag, else the date) on every later ranged request to that mirror, in this run
// and after a resume. A 200 to a request carrying If-Range means the mirror's file
// changed: the response is closed without reading its body and the mirror ends as
// MirrorChanged (ErrChanged, naming the validator); so does a 206 with another ETag
// (or, without one, another Last-Modified): a server that ignored If-Range. Pieces are
// still verified by hash, so with piece hashes nothing else is lost; and when every
// other mirror is gone, the changed ones are used once more without If-Range (an ETag
// can change without the bytes: load-balanced backends, a copy without mtimes), each
// piece still verified, a really changed file quarantining them. Without piece
// hashes the validators are the only guard against splicing two versions: when a
// mirror's file changed while chunks were held (from the journal or this run), every
// chunk is discarded (journal included) and the file restarts from zero
// (FileReport.Restarted, an EventWarning and a log record), at most twice; the changed
// mirror is dropped when others are left, and when it is the only source its new
// version is fetched whole with its validators forgotten.
//
// # Repair
//
// Repair (fetch/repair.go, fetch/repair_multipart.go) mends an existing file in place
// instead of downloading it again. It takes the same NAME.part.lock as Get, so a
// download and a repair of one output (or two repairs) never write it at once, then
// scans the file in one pass with verify.File: every piece of the strongest piece-hash
// set and every whole-file hash. An already good file costs no request. A missing tail
// counts as bad pieces (the repair extends the file); bytes beyond the metalink size
// are cut off once every piece is good. Without supported piece hashes the damage can
// neither be located nor a fetched piece checked before it overwrites the old one, so
// Repair refuses with ErrNotRepairable (Get with Overwrite rebuilds the file in a part
// file instead). The bad pieces are coalesced into byte ranges, and one request asks
// for up to 32 of them and 4-16 MiB (the unassigned bad bytes shared among the free
// connections) as "Range: bytes=a-b,c-d,..."; each part of the multipart/byteranges
// answer must carry a Content-Range with the metalink size as total that starts an
// asked range and ends one (a server may coalesce neighbouring ranges; the bytes
// between them are read and dropped), no range twice, identity encoding, and the whole
// body is cut at the asked span plus 1 KiB of framing per part. A mirror that answers
// several ranges with a single part (only the first range, or one span over all) is
// used, and from then on asked for one range per request. A 200 to a Range request
// makes the mirror range-less and its body is not read; only when no other mirror can
// supply the pieces still in need does it make one sequential pass from offset 0,
// which keeps those pieces (each verified) and ends after the last of them. A piece
// failing its hash is asked from another mirror (MaxBadPieces quarantine a mirror),
// and a piece no mirror can supply ends the repair with ErrNoSource once
// the other pieces are done. At the end the file is fsynced and verified again in
// full (ErrVerify if a whole-file hash still fails). The caller's goroutine dispatches
// (and emits EventProgress); each request in flight has a goroutine of its own (at most
// Connections, PerMirror per mirror), and all of them have ended when Repair returns.
//
// For repair the file itself, re-verified on every run, is the journal: only pieces
// that were bad are ever written, and only after their hash verified, so a piece is at
// any moment either its old (bad) content or its new verified content, a good piece is
// never touched, and an interrupted repair (cancellation, kill, power loss) leaves the
// file no worse than before; running it again re-scans and fetches what is still bad.
//
// # Metalink/HTTP discovery
//
// Discover turns a plain http(s) URL into something Get can download, following RFC
// 6249: a URL that is a metalink (by Content-Type or a .meta4/.metalink path) is
// decoded; otherwise one HEAD request (GET when HEAD gets 405, 501 or 403) asks for
// Want-Digest: sha-256 and Want-Repr-Digest: sha-256=10, and its answer decides: a
// Link rel=describedby to a metalink is fetched and decoded (that response's own Link
// fields are never read, so a describedby loop is followed at most once); else a
// Digest or Repr-Digest makes one file (named after the last path segment of the URL
// given, never of a redirect target, checked like a metalink name; size from
// Content-Length) whose mirrors are the URL
// and its Link rel=duplicate fields (http(s) only, at most 63), verified against that
// digest; else a plain file with the URL as only source and no hash (DiscoveryPlain,
// downloaded only with InsecureNoHash). Duplicates without a digest are ignored. Only
// the first server's fields are used (or those of a redirect that carries them, as
// MirrorBrain sends them); Get never reads a mirror's Link fields. Credentials in the
// URL go to its own origin only (OriginAuth, in Discover's requests and for the
// download's client), and RedirectPolicy applies to Discover's redirects whatever the
// caller's client does (no https to http: the metalink is the trust root). Without piece
// hashes a bad duplicate is caught by the whole-file digest at the end: the part file
// is discarded and Get returns ErrVerify.
package fetch
