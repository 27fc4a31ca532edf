package metalink

import "time"

// Format names a metalink serialisation.
type Format string

// The formats Decode recognises and Encode writes.
const (
	// FormatV4 is Metalink v4, RFC 5854 (namespace urn:ietf:params:xml:ns:metalink).
	FormatV4 Format = "v4"
	// FormatV3 is Metalink 3.0 (namespace http://www.metalinker.org/).
	FormatV3 Format = "v3"
	// FormatMirrorManager is the Metalink 3.0 dialect written by Fedora's
	// MirrorManager and read by dnf's librepo (literal mm0 prefix).
	FormatMirrorManager Format = "mirrormanager"
)

// Metalink is one metalink document in the format-neutral model shared by
// v3 and v4. The zero value is an empty v4 document.
type Metalink struct {
	// Format is the format the document was decoded from (FormatV4 when built in code).
	Format Format
	// Generator names the program that wrote the document (v4 <generator>, v3 root @generator).
	Generator string
	// Origin is where the document itself can be refetched (v4 <origin>, v3 root @origin).
	Origin string
	// Dynamic reports that Origin may serve an updated document
	// (v4 <origin dynamic="true">, v3 root type="dynamic").
	Dynamic bool
	// Published and Updated are the document dates in UTC (v4 <published>/<updated>,
	// v3 @pubdate/@refreshdate); zero when absent.
	Published time.Time
	Updated   time.Time
	// Lang is the root xml:lang, if any.
	Lang string
	// Files lists the accepted file entries, in document order.
	Files []File
	// Refused lists file entries that were rejected; the document as a whole is still usable
	// for the accepted ones only if the caller decides so (mlink show exits non-zero).
	Refused []*FileError
	// Warnings lists non-fatal findings (ignored URLs, clamped priorities, tolerated
	// non-conformance), each naming the file entry and element.
	Warnings []string
}

// File is one <file> entry.
type File struct {
	// Name is the validated relative path (slash-separated) the file is saved under.
	Name string
	// Size is the file length in bytes, or -1 when the document does not say.
	Size int64
	// Identity, Version, Description, Copyright, Logo are RFC 5854 descriptive fields.
	Identity    string
	Version     string
	Description string
	Copyright   string
	Logo        string
	// Languages and OSes list <language> and <os> values.
	Languages []string
	OSes      []string
	// Publisher is <publisher name url> (v4), or the v3 <publisher><name/><url/></publisher>.
	Publisher *Publisher
	// License is the v3 <license> element.
	License *License
	// Hashes are whole-file hashes with canonical IANA names (sha-256) and lowercase hex values.
	Hashes []Hash
	// Pieces lists the piece-hash sets (v4 allows several, one per hash type).
	Pieces []Pieces
	// Signatures are detached signatures (<signature mediatype>, v3 <signature type file>).
	Signatures []Signature
	// URLs are the mirrors; MetaURLs the metadata URLs (torrents, other metalinks).
	URLs     []URL
	MetaURLs []MetaURL
	// MaxConnections is the v3 <resources maxconnections> for the whole file (0 = unset).
	MaxConnections int
	// Lang is the file's xml:lang, if any.
	Lang string
	// MMTimestamp is the MirrorManager mm0:timestamp (Unix seconds, 0 when absent).
	MMTimestamp int64
	// Alternates are MirrorManager mm0:alternates: earlier versions a lagging mirror may
	// still serve, with their own size and hashes.
	Alternates []Alternate
}

// Publisher names who published a file.
type Publisher struct {
	Name string
	URL  string
}

// License is the Metalink 3.0 licence of a file.
type License struct {
	Name string
	URL  string
}

// Hash is one whole-file or alternate hash.
type Hash struct {
	// Type is the canonical IANA hash name ("sha-256"), or the name as written when unsupported.
	Type string
	// Value is the lowercase hex digest.
	Value string
}

// Pieces is one set of piece hashes: piece i covers bytes [i*Length, min((i+1)*Length, Size)).
type Pieces struct {
	// Length is the piece length in bytes (> 0).
	Length int64
	// Type is the canonical hash name of every piece hash.
	Type string
	// Hashes are lowercase hex digests, in piece order.
	Hashes []string
}

// Signature is a detached signature of a file.
type Signature struct {
	// MediaType is e.g. "application/pgp-signature".
	MediaType string
	// File is the v3 signature@file name (validated like a file name), if any.
	File string
	// Value is the signature text.
	Value string
}

// URL is one mirror of a file.
type URL struct {
	// URL is the absolute URL (relative references are resolved against the base URL given to Decode).
	URL string
	// Priority is the v4 priority, 1 (most preferred) .. 999999; 0 means unset.
	// v3 preference P is mapped to 101-P, clamped to 1..999999.
	Priority int
	// Location is an ISO 3166-1 alpha-2 country code, lowercase; empty when unknown.
	Location string
	// Type is the v3 url@type (http, https, ftp, bittorrent, ...), if any.
	Type string
	// MaxConnections is the v3 url@maxconnections (0 = unset).
	MaxConnections int
	// Private is the MirrorManager mm0:private flag.
	Private bool
}

// MetaURL is a URL of metadata describing the file (a torrent, another metalink).
type MetaURL struct {
	URL       string
	MediaType string
	Priority  int
	// Name is the validated name of this file inside the metadata (for multi-file torrents).
	Name string
}

// Alternate is a MirrorManager mm0:alternate: an older version of the file.
type Alternate struct {
	Timestamp int64
	Size      int64
	Hashes    []Hash
}
