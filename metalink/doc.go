// Package metalink is the format-neutral model of a Metalink document and its
// decoders and encoders: Metalink v4 (RFC 5854), Metalink 3.0, and Fedora
// MirrorManager's mm0 dialect of 3.0.
//
// The document is hostile input. Decode enforces hard caps (bytes, depth,
// element count, value sizes), refuses DOCTYPEs, duplicate attributes and
// content after the root, matches elements by namespace, validates every name
// component by component and every hash value by length and alphabet. A bad
// <file> entry is refused with a *FileError naming the entry and the element;
// the rest of the document is still returned.
//
// The package imports nothing else of this module and has no global state; it is
// safe for concurrent use.
package metalink
