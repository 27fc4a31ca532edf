package metalink

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotMetalink: the root element is not a Metalink v4 or v3 <metalink>.
	ErrNotMetalink = errors.New("not a metalink document")
	// ErrTooLarge: a size, depth, count or value cap was exceeded.
	ErrTooLarge = errors.New("document exceeds a safety limit")
	// ErrUnsafeName: a file, metaurl or signature name is not a safe relative path.
	ErrUnsafeName = errors.New("unsafe name")
	// ErrBadHash: a hash value has the wrong length or alphabet for its type.
	ErrBadHash = errors.New("malformed hash")
	// ErrBadPieces: piece length or piece count does not match the file size.
	ErrBadPieces = errors.New("inconsistent pieces")
	// ErrBadValue: a number, date or attribute value is malformed.
	ErrBadValue = errors.New("malformed value")
	// ErrForbidden: the document uses a construct refused for safety (DOCTYPE,
	// duplicate attribute, content after the root, non-UTF-8).
	ErrForbidden = errors.New("forbidden construct")
	// ErrNoFiles: the document has no acceptable <file> entry.
	ErrNoFiles = errors.New("no file entries")
	// ErrSyntax: the document is not well-formed XML.
	ErrSyntax = errors.New("malformed XML")
)

// FileError describes why one <file> entry was refused.
type FileError struct {
	// Index is the 0-based position of the <file> element in the document.
	Index int
	// Name is the file@name as written (possibly unsafe; quote it when printing).
	Name string
	// Element is the element or attribute at fault, e.g. "pieces@length", "hash[sha-256]".
	Element string
	// Err is the cause; it wraps one of the sentinel errors.
	Err error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("file #%d %q: %s: %v", e.Index+1, e.Name, e.Element, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }
