// Package httphdr parses and formats the text of the HTTP header fields mlink
// speaks: Range and Content-Range (RFC 9110 §14), Link (RFC 8288, as
// Metalink/HTTP, RFC 6249, uses it), Digest and Want-Digest (RFC 3230), and
// Repr-Digest and Want-Repr-Digest (RFC 9530, structured-field dictionaries,
// RFC 8941).
//
// Every parser is strict and overflow-safe (SECURITY.md rule 15): numbers are
// decimal digits only, accumulated with an explicit overflow check, never
// with strconv's sign and base prefixes; a value that does not fit an int64
// is malformed. Callers branch on the sentinels ErrMalformed,
// ErrUnsatisfiable and ErrTooManyRanges with errors.Is. The formatters never
// emit control characters, so their output is always a safe header value.
//
// Algorithm names of digests are mapped to the canonical names of package
// metalink ("sha-256"); digest values are returned as raw bytes.
//
// The package is pure text processing: no I/O, no global state, safe for
// concurrent use. Nothing it does touches the disk.
package httphdr
