// Package mirrortest runs HTTP mirrors for tests that misbehave on request, so that
// every network case of SECURITY.md catalogue B3 (cases 43-68) can be played against
// fetch, publish and cmd/mlink with real sockets and no mocks.
//
//	good := mirrortest.Start(t, content)
//	bad := mirrortest.Start(t, content, mirrortest.CorruptPieces(1<<20, 3), mirrortest.Throttle(2<<20))
//	... download from good.URL() and bad.URL() ...
//	if bad.SawHeader("Authorization") { t.Error("credentials reached a mirror") }
//
// # What a mirror does
//
// New listens on 127.0.0.1:0 (or the Listener option's listener) and serves the
// content at one path (Path, default "/file.bin"; File adds more) by GET and HEAD.
// By default it is a correct server: http.ServeContent answers Range with 206 and an
// exact Content-Range, several ranges with multipart/byteranges, unsatisfiable ones
// with 416, and honours If-Range against a strong ETag. Options change that:
//
//   - data: CorruptRange, CorruptPieces, CorruptFraction (deterministic by seed;
//     CorruptedPieces lists the victims) flip bytes in what is served;
//   - ranges and framing: IgnoreRange (200 + full body), ShiftContentRange,
//     WrongTotal, NoContentRange, ContentRange (any rewrite), MultipartSingle,
//     LongBody (no Content-Length, extra bytes, Connection: close), BadFraming
//     (two Content-Lengths, chunked + Content-Length, negative length), Gzip;
//   - the connection: DropAfter (per response), ResetAfter (the same with a TCP RST),
//     DropAfterTotal (once), DieAfter
//     (listener and all connections closed once N bytes were served in total),
//     Stall (never answers), StallAfter (headers and N bytes, then nothing),
//     Trickle (bytes/s per response), Throttle (bytes/s shared by every connection of
//     the mirror, golang.org/x/time/rate, charged after each write of at most 64 KiB
//     and never more than the burst, a tenth of a second of data capped at 4 MiB),
//     Latency, SlowClose (FIN after the body, then the socket held open);
//   - status: Fail (404/403/410, or 429/503 with Retry-After, for the first N requests
//     or always), Redirect, RedirectPath (chains), RedirectLoop, RedirectCode;
//   - transport and headers: TLS (a fresh self-signed certificate; trust CertPool or
//     Certificate, or use Client), TLSExpired, TLSWrongHost, HugeHeader, EarlyHints (a 103 with a misleading Link and
//     Content-Disposition before the final answer), Header, ETag, Wrap.
//
// SetContent replaces the main file while the mirror runs (new bytes, ETag and
// Last-Modified), as a server whose file was updated in place: If-Range with the old
// ETag then gets the whole new file with 200.
//
// Counters are atomic: BytesServed (body bytes written), RequestCount,
// RangeRequestCount, Connections, per-status counts in Stats, and every request's
// method, target, Range and full header set (Requests, SawHeader) up to RecordLimit.
//
// # Concurrency and shutdown
//
// A mirror is an http.Server on its own goroutine; each connection is served on
// net/http's goroutines. Close cancels a mirror-wide context (ending stalls and
// rate-limiter waits), closes the listener and every connection, and returns only
// after the accept loop and every handler have returned, so tests using
// go.uber.org/goleak see no leftovers. A mirror touches no disk: content comes from
// memory or from the io.ReaderAt given to NewReaderAt.
//
// mirrortest does not import net/http/httptest (it would pull in package flag, which
// only commands may use); it manages its own listener and certificate instead.
// The benchmark binary internal/mirrortest/cmd/mirrortest exposes the same options as
// flags.
package mirrortest
