package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/spf13/cobra"
)

func init() { register(newShowCmd) }

func newShowCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show METALINK",
		Short: "Print what a metalink says: files, hashes, pieces, mirrors, problems",
		Long: `Show decodes a Metalink v4 (.meta4) or v3 (.metalink) document, including
MirrorManager's mm0 extensions, and prints every file: size, whole-file hashes
(the strongest marked, md5 and sha-1 flagged weak), piece length and count,
mirrors sorted by priority with their location, metadata URLs, signatures,
then every warning and every refused file entry.

METALINK is a file, - for standard input, or an http(s) URL (fetched with TLS
verification; a server publishing Metalink/HTTP headers instead of a metalink
is described from them).

Exit status is 3 when the document or any file entry in it is refused (an
unsafe name, a malformed hash, inconsistent pieces, a forbidden XML construct),
1 when the file cannot be read.`,
		Example: `  mlink show release.meta4
  mlink show --json release.meta4 | jq '.files[0].mirrors[0]'
  mlink show https://example.org/release.meta4
  curl -s https://example.org/release.meta4 | mlink show -`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			src := redactSource(args[0])
			m, err := showLoad(e, args[0])
			if m == nil {
				if asJSON && err != nil && showExitCode(err) == exitVerify {
					writeJSON(e.stdout, showDoc{Source: src, Error: err.Error(), Files: []showFile{}, Warnings: []string{}, Refused: []showRefused{}})
				}
				return err
			}
			if asJSON {
				doc := buildShow(src, m)
				if err != nil {
					doc.Error = err.Error()
				}
				if werr := writeJSON(e.stdout, doc); werr != nil {
					return withCode(exitError, werr)
				}
			} else {
				printShow(e.stdout, src, m)
			}
			if err != nil {
				return err
			}
			if n := len(m.Refused); n > 0 {
				return withCode(exitVerify, fmt.Errorf("%s: %d of %d file entries refused", src, n, n+len(m.Files)))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the document as JSON (for scripts)")
	return c
}

// showExitCode returns the exit code carried by err (exitError when none).
func showExitCode(err error) int {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitError
}

// showRefusals are the sentinels that mean "the metalink was refused"
// (exit 3) rather than "could not be read" (exit 1).
var showRefusals = []error{
	metalink.ErrNotMetalink, metalink.ErrSyntax, metalink.ErrTooLarge, metalink.ErrForbidden,
	metalink.ErrUnsafeName, metalink.ErrNoFiles, metalink.ErrBadHash, metalink.ErrBadPieces, metalink.ErrBadValue,
}

// showLoad reads and decodes the metalink named on the command line: a file, - for
// standard input, or an http(s) URL (loadMetalink: TLS verified, size-capped). The
// common mistakes (a directory, a host name without scheme, another scheme) get
// metalinkArgMistake's errors. Errors carry their exit code. On ErrNoFiles the
// document is returned too, so that its refused entries can be shown.
func showLoad(e *env, arg string) (*metalink.Metalink, error) {
	if err := metalinkArgMistake(arg); err != nil {
		return nil, withCode(exitError, err)
	}
	var r io.Reader = e.stdin
	name := "standard input"
	if isHTTPURL(arg) {
		ctx := e.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		m, err := loadMetalink(ctx, arg)
		if err != nil {
			return showClassify(m, redactSource(arg), err)
		}
		return m, nil
	}
	if arg != "-" {
		name = arg
		f, err := os.Open(arg)
		if err != nil {
			return nil, withCode(exitError, fmt.Errorf("cannot read metalink: %w", err))
		}
		defer f.Close()
		r = f
	}
	m, err := metalink.Decode(r, nil)
	if err != nil {
		return showClassify(m, name, err)
	}
	return m, nil
}

// showClassify gives a decode error its exit code: 3 when the document was refused
// (the document, if any, is returned for its refused entries), 1 when unreadable.
func showClassify(m *metalink.Metalink, name string, err error) (*metalink.Metalink, error) {
	for _, s := range showRefusals {
		if errors.Is(err, s) {
			if strings.HasPrefix(err.Error(), name) {
				return m, withCode(exitVerify, err)
			}
			return m, withCode(exitVerify, fmt.Errorf("%s refused: %w", name, err))
		}
	}
	if strings.HasPrefix(err.Error(), name) {
		return nil, withCode(exitError, err)
	}
	return nil, withCode(exitError, fmt.Errorf("%s: %w", name, err))
}

// clean makes remote-supplied text safe for a terminal: control characters
// (including C1 and bidirectional overrides) become U+FFFD, newlines a space.
func showClean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return ' '
		case unicode.IsControl(r), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

func showHuman(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 5; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// showSortedMirrors returns the URLs by priority (1 first), unset priorities last,
// keeping document order among equals.
func showSortedMirrors(us []metalink.URL) []metalink.URL {
	out := append([]metalink.URL(nil), us...)
	sort.SliceStable(out, func(i, j int) bool {
		pi, pj := out[i].Priority, out[j].Priority
		if pi == 0 {
			pi = 1 << 30
		}
		if pj == 0 {
			pj = 1 << 30
		}
		return pi < pj
	})
	return out
}

func showHashNote(typ string) string {
	switch {
	case metalink.HashHexLen(typ) == 0:
		return "unsupported"
	case metalink.IsWeakHash(typ):
		return "weak"
	}
	return ""
}

func printShow(w io.Writer, source string, m *metalink.Metalink) {
	tw := &showLines{w: w}
	fmt.Fprintf(tw, "metalink %s\t%s\n", m.Format, showClean(source))
	if m.Generator != "" {
		fmt.Fprintf(tw, "generator\t%s\n", showClean(m.Generator))
	}
	if m.Origin != "" {
		dyn := ""
		if m.Dynamic {
			dyn = " (dynamic)"
		}
		fmt.Fprintf(tw, "origin\t%s%s\n", showClean(m.Origin), dyn)
	}
	if !m.Published.IsZero() {
		fmt.Fprintf(tw, "published\t%s\n", m.Published.Format(time.RFC3339))
	}
	if !m.Updated.IsZero() {
		fmt.Fprintf(tw, "updated\t%s\n", m.Updated.Format(time.RFC3339))
	}
	for i := range m.Files {
		f := &m.Files[i]
		fmt.Fprintf(tw, "\nfile %d\t%s\n", i+1, showClean(f.Name))
		if f.Size >= 0 {
			fmt.Fprintf(tw, "  size\t%d bytes (%s)\n", f.Size, showHuman(f.Size))
		} else {
			fmt.Fprintf(tw, "  size\tunknown\n")
		}
		for _, kv := range [][2]string{{"identity", f.Identity}, {"version", f.Version}, {"description", f.Description},
			{"copyright", f.Copyright}, {"language", strings.Join(f.Languages, ", ")}, {"os", strings.Join(f.OSes, ", ")}} {
			if kv[1] != "" {
				fmt.Fprintf(tw, "  %s\t%s\n", kv[0], showClean(kv[1]))
			}
		}
		if p := f.Publisher; p != nil {
			fmt.Fprintf(tw, "  publisher\t%s %s\n", showClean(p.Name), showClean(p.URL))
		}
		best, hasBest := f.StrongestHash()
		for _, h := range f.Hashes {
			note := showHashNote(h.Type)
			if hasBest && h == best {
				note = strings.TrimPrefix(note+", strongest", ", ")
			}
			if note != "" {
				note = "  (" + note + ")"
			}
			fmt.Fprintf(tw, "  hash\t%s %s%s\n", showClean(h.Type), showClean(h.Value), note)
		}
		if !hasBest {
			fmt.Fprintf(tw, "  hash\tnone supported: the file cannot be verified\n")
		}
		for _, p := range f.Pieces {
			note := ""
			if metalink.IsWeakHash(p.Type) {
				note = "  (weak)"
			}
			plural := "s"
			if len(p.Hashes) == 1 {
				plural = ""
			}
			fmt.Fprintf(tw, "  pieces\t%d piece%s of %s (%d bytes), %s%s\n", len(p.Hashes), plural, showHuman(p.Length), p.Length, p.Type, note)
		}
		for _, s := range f.Signatures {
			file := ""
			if s.File != "" {
				file = " file " + showClean(s.File)
			}
			fmt.Fprintf(tw, "  signature\t%s%s (%d bytes)\n", showClean(s.MediaType), file, len(s.Value))
		}
		if f.MMTimestamp != 0 {
			fmt.Fprintf(tw, "  mm0 timestamp\t%d (%s)\n", f.MMTimestamp, time.Unix(f.MMTimestamp, 0).UTC().Format(time.RFC3339))
		}
		for j, a := range f.Alternates {
			var hs []string
			for _, h := range a.Hashes {
				hs = append(hs, showClean(h.Type)+" "+showClean(h.Value))
			}
			fmt.Fprintf(tw, "  alternate %d\ttimestamp %d, size %d, %s\n", j+1, a.Timestamp, a.Size, strings.Join(hs, ", "))
		}
		fmt.Fprintf(tw, "  mirrors\t%d, by priority\n", len(f.URLs))
		for _, u := range showSortedMirrors(f.URLs) {
			prio, loc := "-", "--"
			if u.Priority > 0 {
				prio = fmt.Sprint(u.Priority)
			}
			if u.Location != "" {
				loc = u.Location
			}
			extra := ""
			if u.Private {
				extra = "  (private)"
			}
			fmt.Fprintf(tw, "    %6s  %-2s  %s%s\n", prio, loc, showClean(u.URL), extra)
		}
		for _, u := range f.MetaURLs {
			name := ""
			if u.Name != "" {
				name = " name " + showClean(u.Name)
			}
			prio := "-"
			if u.Priority > 0 {
				prio = fmt.Sprint(u.Priority)
			}
			fmt.Fprintf(tw, "  metaurl\t%s %s  %s%s\n", prio, showClean(u.MediaType), showClean(u.URL), name)
		}
	}
	if len(m.Warnings) > 0 {
		fmt.Fprintf(tw, "\nwarnings (%d)\n", len(m.Warnings))
		for _, w := range m.Warnings {
			fmt.Fprintf(tw, "  %s\n", showClean(w))
		}
	}
	if len(m.Refused) > 0 {
		fmt.Fprintf(tw, "\nrefused (%d)\n", len(m.Refused))
		for _, r := range m.Refused {
			fmt.Fprintf(tw, "  %s\n", showClean(r.Error()))
		}
	}
}

// The JSON shape of `mlink show --json`.
type showDoc struct {
	Source    string        `json:"source"`
	Format    string        `json:"format,omitempty"`
	Generator string        `json:"generator,omitempty"`
	Origin    string        `json:"origin,omitempty"`
	Dynamic   bool          `json:"dynamic,omitempty"`
	Published *time.Time    `json:"published,omitempty"`
	Updated   *time.Time    `json:"updated,omitempty"`
	Lang      string        `json:"lang,omitempty"`
	Files     []showFile    `json:"files"`
	Warnings  []string      `json:"warnings"`
	Refused   []showRefused `json:"refused"`
	// Error is the document-level refusal, if any.
	Error string `json:"error,omitempty"`
}

type showFile struct {
	Name           string          `json:"name"`
	Size           int64           `json:"size"` // -1 when unknown
	Identity       string          `json:"identity,omitempty"`
	Version        string          `json:"version,omitempty"`
	Description    string          `json:"description,omitempty"`
	Copyright      string          `json:"copyright,omitempty"`
	Languages      []string        `json:"languages,omitempty"`
	OSes           []string        `json:"os,omitempty"`
	Publisher      *showNameURL    `json:"publisher,omitempty"`
	License        *showNameURL    `json:"license,omitempty"`
	StrongestHash  string          `json:"strongest_hash,omitempty"`
	Hashes         []showHash      `json:"hashes"`
	Pieces         []showPieces    `json:"pieces"`
	Signatures     []showSignature `json:"signatures,omitempty"`
	Mirrors        []showMirror    `json:"mirrors"`
	MetaURLs       []showMetaURL   `json:"metaurls,omitempty"`
	MaxConnections int             `json:"max_connections,omitempty"`
	MMTimestamp    int64           `json:"mm0_timestamp,omitempty"`
	Alternates     []showAlternate `json:"mm0_alternates,omitempty"`
}

type showNameURL struct {
	Name string `json:"name,omitempty"`
	URL  string `json:"url,omitempty"`
}

type showAlternate struct {
	Timestamp int64      `json:"timestamp,omitempty"`
	Size      int64      `json:"size"` // -1 when unknown
	Hashes    []showHash `json:"hashes"`
}

type showHash struct {
	Type      string `json:"type"`
	Value     string `json:"value"`
	Weak      bool   `json:"weak,omitempty"`
	Supported bool   `json:"supported"`
}

type showPieces struct {
	Type   string   `json:"type"`
	Length int64    `json:"length"`
	Count  int      `json:"count"`
	Weak   bool     `json:"weak,omitempty"`
	Hashes []string `json:"hashes"`
}

type showSignature struct {
	MediaType string `json:"mediatype"`
	File      string `json:"file,omitempty"`
	Value     string `json:"value"`
}

type showMirror struct {
	URL            string `json:"url"`
	Priority       int    `json:"priority,omitempty"`
	Location       string `json:"location,omitempty"`
	Type           string `json:"type,omitempty"`
	MaxConnections int    `json:"max_connections,omitempty"`
	Private        bool   `json:"private,omitempty"`
}

type showMetaURL struct {
	URL       string `json:"url"`
	MediaType string `json:"mediatype"`
	Priority  int    `json:"priority,omitempty"`
	Name      string `json:"name,omitempty"`
}

type showRefused struct {
	Index   int    `json:"index"` // 1-based position of the <file> element
	Name    string `json:"name"`
	Element string `json:"element"`
	Error   string `json:"error"`
}

func buildShow(source string, m *metalink.Metalink) showDoc {
	d := showDoc{Source: source, Format: string(m.Format), Generator: m.Generator, Origin: m.Origin,
		Dynamic: m.Dynamic, Lang: m.Lang, Files: []showFile{}, Warnings: m.Warnings, Refused: []showRefused{}}
	if d.Warnings == nil {
		d.Warnings = []string{}
	}
	if !m.Published.IsZero() {
		t := m.Published
		d.Published = &t
	}
	if !m.Updated.IsZero() {
		t := m.Updated
		d.Updated = &t
	}
	for _, f := range m.Files {
		sf := showFile{Name: f.Name, Size: f.Size, Identity: f.Identity, Version: f.Version, Description: f.Description,
			Copyright: f.Copyright, Languages: f.Languages, OSes: f.OSes,
			MaxConnections: f.MaxConnections, MMTimestamp: f.MMTimestamp,
			Hashes: showHashes(f.Hashes), Pieces: []showPieces{}, Mirrors: []showMirror{}}
		if p := f.Publisher; p != nil {
			sf.Publisher = &showNameURL{Name: p.Name, URL: p.URL}
		}
		if l := f.License; l != nil {
			sf.License = &showNameURL{Name: l.Name, URL: l.URL}
		}
		for _, a := range f.Alternates {
			sf.Alternates = append(sf.Alternates, showAlternate{Timestamp: a.Timestamp, Size: a.Size, Hashes: showHashes(a.Hashes)})
		}
		if h, ok := f.StrongestHash(); ok {
			sf.StrongestHash = h.Type
		}
		for _, p := range f.Pieces {
			sf.Pieces = append(sf.Pieces, showPieces{Type: p.Type, Length: p.Length, Count: len(p.Hashes), Weak: metalink.IsWeakHash(p.Type), Hashes: p.Hashes})
		}
		for _, s := range f.Signatures {
			sf.Signatures = append(sf.Signatures, showSignature{MediaType: s.MediaType, File: s.File, Value: s.Value})
		}
		for _, u := range showSortedMirrors(f.URLs) {
			sf.Mirrors = append(sf.Mirrors, showMirror{URL: u.URL, Priority: u.Priority, Location: u.Location, Type: u.Type, MaxConnections: u.MaxConnections, Private: u.Private})
		}
		for _, u := range f.MetaURLs {
			sf.MetaURLs = append(sf.MetaURLs, showMetaURL{URL: u.URL, MediaType: u.MediaType, Priority: u.Priority, Name: u.Name})
		}
		d.Files = append(d.Files, sf)
	}
	for _, r := range m.Refused {
		d.Refused = append(d.Refused, showRefused{Index: r.Index + 1, Name: r.Name, Element: r.Element, Error: r.Error()})
	}
	return d
}

func showHashes(hs []metalink.Hash) []showHash {
	out := []showHash{}
	for _, h := range hs {
		out = append(out, showHash{Type: h.Type, Value: h.Value, Weak: metalink.IsWeakHash(h.Type), Supported: metalink.HashHexLen(h.Type) > 0})
	}
	return out
}

// showLines writes "label\tvalue" lines with the label padded to one width.
type showLines struct{ w io.Writer }

func (l *showLines) Write(p []byte) (int, error) {
	line := string(p)
	if i := strings.IndexByte(line, '\t'); i >= 0 {
		lead := strings.TrimLeft(line[:i], "\n")
		line = line[:len(line[:i])-len(lead)] + fmt.Sprintf("%-15s", lead) + " " + line[i+1:]
	}
	_, err := io.WriteString(l.w, line)
	return len(p), err
}
