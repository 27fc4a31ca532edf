// Package metalink is the format-neutral model of a Metalink document and its
// decoders and encoders: Metalink v4 (RFC 5854), Metalink 3.0, and Fedora
// MirrorManager's mm0 dialect of 3.0.
//
// # Decoding
//
// The document is hostile input. Decode reads it as a stream of encoding/xml
// tokens (Decoder.Token, which resolves namespaces), never as a tree, and
// checks every token before acting on it:
//
//   - at most DecodeOptions.MaxBytes bytes are read (default 8 MiB); nesting deeper
//     than MaxDepth (32) fails at depth 33; more than MaxElements (1 000 000)
//     elements fails; an attribute or text value over MaxValueBytes (64 KiB)
//     fails, except <signature> text (MaxSignatureBytes, 1 MiB). Memory is bounded
//     by the byte cap whatever the document does.
//   - a DOCTYPE (or any <!...> declaration) is refused when it is read, before any
//     entity could be declared, expanded or fetched; encoding/xml itself never
//     reads external entities. Duplicate attributes (compared by namespace URI, so
//     a:n and b:n bound to one URI collide) are refused; so is anything but white
//     space, comments and processing instructions after the root.
//   - only UTF-8 is read: a UTF-8 byte-order mark is skipped, UTF-16/32 (by BOM or
//     NUL bytes) and any declared encoding other than UTF-8 are refused with a
//     message saying so, and invalid UTF-8 anywhere is a syntax error.
//   - the version is the root's namespace: urn:ietf:params:xml:ns:metalink (v4) or
//     http://www.metalinker.org/ (v3; FormatMirrorManager when the root also
//     declares the mm0 namespace). Elements are matched by namespace URI, so a
//     <file> in a foreign namespace is not a file; unknown elements are skipped.
//
// Document-level failures return an error wrapping a sentinel (ErrNotMetalink,
// ErrSyntax, ErrTooLarge, ErrForbidden, ErrUnsafeName for conflicting names,
// ErrNoFiles) with the line and element. One bad <file> does not fail the
// document: it is recorded in Metalink.Refused as a *FileError naming the
// entry's index, its name as written, the element at fault and the sentinel.
// When no entry is acceptable, Decode returns the document with its Refused list
// and an error wrapping ErrNoFiles, so that a caller can show why. Tolerated
// problems become Metalink.Warnings (at most 1000, then a count); warnings about
// an entry that ends up refused are dropped, its refusal says what matters.
//
// An entry is refused for: a missing or unsafe name (CheckName), an unsafe
// metaurl@name or v3 signature@file, a malformed <size> (digits only, at most
// 2^63-1, at most MaxFileSize when set), a malformed hash value of a supported
// type (wrong length or not hex: there is no fallback to another hash, weaker
// or not), two different values for one hash type, and inconsistent pieces
// (length not a positive integer; a malformed piece hash; v3 piece indexes
// missing, repeated or out of range; more than one set of one type; a count
// other than ceil(size/length) when the size is known). Whole documents are
// refused when two entries would write the same path: equal names, names equal
// after Unicode NFC and case folding, or one name being a directory of another
// ("a" and "a/b").
//
// Decisions, where the specifications leave room:
//   - Names: every component starting with "." is refused, including hidden
//     middle components such as a/.ssh/authorized_keys; a download never creates a
//     dot-file. Windows' rules apply on every OS (reserved device names, trailing
//     dot or space, < > : " | ? * and backslashes), so a metalink that is safe
//     here is safe everywhere. See CheckName.
//   - Pieces: a length greater than the size is one short piece (RFC 5854 lets the
//     last piece be short; publishers use a fixed piece length for small files).
//     The count is checked against ceil(size/length) computed without overflow,
//     so length="5222222222222222222" is only accepted with exactly one hash. When
//     the size is unknown the count cannot be checked: accepted with a warning.
//     A set of an unsupported type is dropped with a warning; other sets remain.
//   - Caps on counts: more than MaxFiles entries fails the document (dropping files
//     would look like success); more than MaxURLs <url> in one entry keeps the
//     first MaxURLs with a warning (the rest of the mirrors still describe it).
//   - URLs of every scheme are kept in the model (convert must round-trip them);
//     the fetcher decides which schemes it uses. A relative URL is resolved
//     against DecodeOptions.BaseURL, or dropped with a warning without one. A URL
//     with userinfo is kept with a warning that shows it redacted.
//   - Hash names are normalised to IANA names ("sha1" -> "sha-1"), values to lower
//     case. Unsupported hash types are kept as written, with a warning; they never
//     count as a hash (File.StrongestHash ignores them).
//   - Out-of-range or non-numeric v4 priorities, locations that are not two
//     letters, and non-positive maxconnections are ignored with a warning.
//     A v3 preference outside 1..100 is clamped into it (with a warning) and
//     mapped to priority 101 - preference, so v3 documents map onto priorities
//     1..100 and Encode's inverse, preference = clamp(101 - priority, 1..100),
//     round-trips.
//   - v3 <url type="bittorrent"> becomes a MetaURL of mediatype "torrent".
//   - Lenient where real publishers are non-conformant but unambiguous:
//     <publisher><name/><url/></publisher> (MirrorBrain, MirrorCache, Metalink 3.0;
//     its <url> is the publisher's page, never a mirror), a document-level
//     <publisher> (applied to files without one, with a warning), v3 document-level
//     description/identity/version/license/copyright/logo (applied to files without
//     their own), an empty <size> (size unknown, with a warning), MirrorManager's
//     url@protocol, dates without a time zone (UTC, with a warning).
//   - An mm0:alternate with a malformed hash is dropped with a warning: an
//     alternate only widens which mirror copies are acceptable.
//
// # Encoding
//
// Encode validates the whole model first and writes nothing when it cannot be
// written conformantly; then it writes the document with one Write call. The
// writer is a small hand-written streaming serialiser rather than beevik/etree:
// the element set is fixed, one escaping routine (text and attributes, with
// CR/LF/TAB as character references in attributes) is easy to audit, a 100 000
// piece document needs no tree of 100 000 nodes, and the MirrorManager dialect
// needs the literal mm0 prefix that librepo matches by name. v4 output validates
// against RFC 5854's RELAX NG schema (the tests run jing on every encoding):
// values are trimmed, dates are RFC 3339 in UTC, priorities 1..999999, locations
// two lower-case letters, <publisher name url/> as attributes, and the element
// order is fixed. Fields a format cannot carry are dropped by that format (v4:
// url type and maxconnections, licence, signature file; v3: metaurl names and
// non-torrent metaurls).
//
// # Performance
//
// BenchmarkDecodeLarge (100 000 sha-256 piece hashes and 1 000 mirrors, a 7.9 MB
// document, default limits) measured 0.25 s and 39 MiB allocated per decode
// (916 000 allocations) when the 2-core machine was otherwise quiet, against a
// target of 0.5 s and 100 MiB; with the cores shared by about ten busy
// processes the wall time rose to 0.6-1.0 s while allocation stayed at 39 MiB.
// About two thirds of the time is encoding/xml's tokenizer.
//
// # Concurrency and side effects
//
// The package imports nothing else of this module and has no global mutable
// state; every function is safe for concurrent use. Decode and Encode touch no
// files (DecodeFile only opens and reads its path); a failure leaves nothing
// behind, and Encode writes to its io.Writer only after validation succeeded.
package metalink
