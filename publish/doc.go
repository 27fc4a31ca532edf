// Package publish builds Metalink documents for files and serves them: hashing
// with a persistent hash cache (Hasher, Cache), mirror lists (Mirror,
// ParseMirrorsFile, ParseMirrorFlag, MirrorURL), document generation
// (Generate), and the mirror/origin HTTP handler, upload and mirror checks
// (documented on their own types).
//
// # Hashing
//
// Hasher.Sums opens a file through an *os.Root (so no symbolic link can lead
// outside the published root), refuses anything but a regular file (opened
// with O_NONBLOCK, so a fifo cannot hang it), and reads it once with
// internal/digest: the whole-file hashes each on one goroutine, the piece hashes
// spread over the cores, with a fixed number of 1 MiB buffers in flight, so
// memory does not grow with the file. After hashing it stats the file again:
// a different size, mtime or ctime, or a name now pointing to another file, is
// ErrChanged, and nothing is cached or returned.
//
// Piece length: Hasher.PieceSize, or AutoPieceSize(size): 1 MiB, doubled while
// the file would have more than 4096 pieces, at most 16 MiB (files up to 4 GiB
// get 1 MiB pieces; 8 GiB gets 2 MiB; 64 GiB and more 16 MiB).
//
// # Hash cache
//
// Cache is a bbolt file. An entry is keyed by the file's absolute path and the
// hash settings (hash names, piece hash, piece length) and is used only while
// the file's size, mtime, ctime, device and inode are all unchanged. Each entry
// carries a sha-256 of its own content and is shape-checked (hex lengths, piece
// count) when read; a bad entry is deleted and the file rehashed. A cache file
// that bbolt cannot open or whose consistency check fails is moved aside to
// NAME.damaged and rebuilt, with a warning in Cache.Warnings. A file modified
// less than two seconds before it was hashed is not cached, because a write in
// the same timestamp tick could leave its mtime unchanged. Entries are written
// in bbolt transactions without an fsync each (Close syncs once); a crash
// can lose recent entries or damage the file, which the checks above turn into a
// rehash or a rebuild, never a wrong hash. Entries are not pruned: a cache for
// trees that keep changing name grows until it is deleted (it is only a cache).
//
// # Generation
//
// Generate collects the inputs (a file under its base name, a directory's
// regular files under their paths relative to it, skipping hidden names and
// *.meta4/*.metalink files), checks every name with metalink.CheckName and for
// collisions (also after NFC normalisation and case folding, and a name that is
// both a file and a directory), hashes up to Options.Concurrency files at once,
// adds one URL per mirror (MirrorURL escapes each path component), the
// descriptive fields and NAME.asc signatures, and returns the documents in
// memory. It writes nothing; the caller encodes with metalink.Encode and should
// write through a temporary file and a rename (mlink publish does).
//
// # Concurrency
//
// Hasher, Cache and Generate are safe for concurrent use; Generate and Sums are
// synchronous and end every goroutine they start before returning.
package publish
