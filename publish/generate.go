package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"golang.org/x/sync/errgroup"
	"golang.org/x/text/unicode/norm"
)

// Options configure Generate. The zero value publishes with sha-256 whole-file
// hashes, sha-256 pieces of AutoPieceSize, no mirrors, no dates, one document.
type Options struct {
	// Hasher computes sizes and hashes (its Cache, Hashes, PieceHash, PieceSize, Progress).
	Hasher Hasher
	// Mirrors are the bases of the published roots; every file gets one URL per mirror.
	Mirrors []Mirror
	// Each asks for one document per file instead of one multi-file document.
	Each bool
	// Origin is the URL the document itself will be published at (v4 <origin>);
	// with Each it is a base URL, and each document's origin is MirrorURL(Origin, NAME.meta4).
	Origin string
	// Dynamic marks the origin as serving updates.
	Dynamic bool
	// Generator is written as <generator> (e.g. "mlink/1.0.0"); "" = none.
	Generator string
	// Published and Updated are the document dates; zero = not written. They are
	// written as given (UTC, whole seconds): pass SOURCE_DATE_EPOCH for reproducible output.
	Published, Updated time.Time
	// Descriptive fields copied into every file entry.
	Publisher   *metalink.Publisher
	Identity    string
	Version     string
	Description string
	Copyright   string
	Languages   []string
	OSes        []string
	// Signatures embeds NAME.asc found beside a file NAME as its signature
	// (application/pgp-signature); such .asc files are then not published themselves.
	Signatures bool
	// Exclude lists paths (as given or absolute) never published, e.g. the output file.
	Exclude []string
	// MMTimestamps records each file's mtime as its MirrorManager mm0:timestamp
	// (wanted for FormatMirrorManager output; off, v4 output has no mm0 elements).
	MMTimestamps bool
	// Concurrency caps the files hashed at once; 0 = GOMAXPROCS.
	Concurrency int
	// Start, if set, is called once the inputs are known, before hashing, with
	// their count and total size (for a progress bar fed by Hasher.Progress).
	Start func(files int, bytes int64)
}

// Result is what Generate built.
type Result struct {
	// Documents holds one document, or one per file with Options.Each.
	Documents []Document
	// Files counts the published files; Hashed of them were read and hashed, Cached
	// came from the hash cache. Bytes is their total size, HashedBytes what was read.
	Files, Hashed, Cached int
	Bytes, HashedBytes    int64
	// Warnings lists what was skipped or tolerated (symlinked directories, cache trouble).
	Warnings []string
}

// Document is one metalink to write.
type Document struct {
	// Metalink is the document.
	Metalink *metalink.Metalink
	// Source is the published file's path with Options.Each ("" for a multi-file
	// document); NAME.meta4 beside it is the conventional output name.
	Source string
}

// ErrDuplicateName: two inputs map to the same name in the document (also after
// Unicode normalisation and case folding), or one name is a directory of another.
var ErrDuplicateName = errors.New("two inputs map to the same name")

// ErrNoInput: nothing to publish.
var ErrNoInput = errors.New("no files to publish")

// signatureMax caps the size of an embedded .asc signature.
const signatureMax = 64 << 10

// input is one file to publish.
type input struct {
	root    *os.Root
	name    string // slash-separated name in the document
	open    string // slash-separated name inside root (differs for a symbolic link argument)
	display string // path for messages and for Document.Source
}

// Generate hashes the files and directory trees of paths and builds the metalink
// documents. A file is published under its base name; a directory's files under
// their paths relative to it. Hidden files and directories (names starting with
// "."), and *.meta4 / *.metalink files, inside directories are skipped. Symbolic
// links inside a directory are followed when they stay inside it (a link
// leaving it is an error wrapping ErrOutsideRoot; a link to a directory is
// skipped with a warning); a symbolic link given as a path is resolved. Fifos,
// sockets and devices are errors wrapping ErrNotRegular. Files are hashed
// concurrently, each in one read pass. Generate writes nothing.
func Generate(ctx context.Context, paths []string, opts Options) (*Result, error) {
	if err := opts.Hasher.Check(); err != nil {
		return nil, err
	}
	if opts.Origin != "" {
		if err := CheckOrigin(opts.Origin, opts.Each); err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
	}
	res := &Result{}
	roots := map[string]*os.Root{}
	defer func() {
		for _, r := range roots {
			r.Close()
		}
	}()
	openRoot := func(dir string) (*os.Root, error) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		if r, ok := roots[abs]; ok {
			return r, nil
		}
		r, err := os.OpenRoot(abs)
		if err != nil {
			return nil, err
		}
		roots[abs] = r
		return r, nil
	}
	exclude := map[string]bool{}
	for _, p := range opts.Exclude {
		if abs, err := filepath.Abs(p); err == nil {
			exclude[abs] = true
		}
	}

	var inputs []input
	for _, p := range paths {
		in, warns, err := collect(p, openRoot, exclude)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in...)
		res.Warnings = append(res.Warnings, warns...)
	}
	if opts.Signatures {
		inputs = dropSignatureFiles(inputs)
	}
	if len(inputs) == 0 {
		return nil, ErrNoInput
	}
	if err := checkNames(inputs); err != nil {
		return nil, err
	}
	if opts.Start != nil {
		var total int64
		for _, in := range inputs {
			if st, err := in.root.Stat(filepath.FromSlash(in.open)); err == nil {
				total += st.Size()
			}
		}
		opts.Start(len(inputs), total)
	}

	// Hash concurrently; each file is one read pass.
	files := make([]*metalink.File, len(inputs))
	cached := make([]bool, len(inputs))
	g, gctx := errgroup.WithContext(ctx)
	limit := opts.Concurrency
	if limit <= 0 {
		limit = runtime.GOMAXPROCS(0)
	}
	g.SetLimit(limit)
	for i, in := range inputs {
		g.Go(func() error {
			f, hit, err := opts.Hasher.sums(gctx, in.root, in.open)
			if err != nil {
				var pe *PathError
				if errors.As(err, &pe) {
					pe.Path = in.display
				}
				return err
			}
			f.Name = in.name
			files[i], cached[i] = f, hit
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if c := opts.Hasher.Cache; c != nil {
		res.Warnings = append(res.Warnings, c.Warnings()...)
	}

	for i, in := range inputs {
		f := files[i]
		res.Files++
		res.Bytes += f.Size
		if cached[i] {
			res.Cached++
		} else {
			res.Hashed++
			res.HashedBytes += f.Size
		}
		if err := describe(f, in, &opts); err != nil {
			return nil, err
		}
	}

	newDoc := func() *metalink.Metalink {
		return &metalink.Metalink{
			Format:    metalink.FormatV4,
			Generator: opts.Generator,
			Origin:    opts.Origin,
			Dynamic:   opts.Dynamic && opts.Origin != "",
			Published: opts.Published.UTC().Truncate(time.Second),
			Updated:   opts.Updated.UTC().Truncate(time.Second),
		}
	}
	if opts.Each {
		for i, in := range inputs {
			m := newDoc()
			if opts.Origin != "" {
				u, err := MirrorURL(opts.Origin, in.name+".meta4")
				if err != nil {
					return nil, err
				}
				m.Origin = u
			}
			// With one document per file, the entry is named by its base name so
			// that NAME.meta4 beside NAME downloads NAME beside it.
			f := *files[i]
			f.Name = path.Base(in.name)
			m.Files = []metalink.File{f}
			res.Documents = append(res.Documents, Document{Metalink: m, Source: in.display})
		}
	} else {
		m := newDoc()
		for _, f := range files {
			m.Files = append(m.Files, *f)
		}
		res.Documents = []Document{{Metalink: m}}
	}
	return res, nil
}

// describe adds URLs, descriptive fields and the signature to f.
func describe(f *metalink.File, in input, opts *Options) error {
	for _, m := range opts.Mirrors {
		u, err := MirrorURL(m.URL, f.Name)
		if err != nil {
			return err
		}
		f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: m.Priority, Location: m.Location})
	}
	if opts.Publisher != nil {
		p := *opts.Publisher
		f.Publisher = &p
	}
	f.Identity, f.Version, f.Description, f.Copyright = opts.Identity, opts.Version, opts.Description, opts.Copyright
	f.Languages = slices.Clone(opts.Languages)
	f.OSes = slices.Clone(opts.OSes)
	if opts.MMTimestamps {
		if st, err := in.root.Stat(filepath.FromSlash(in.open)); err == nil {
			f.MMTimestamp = st.ModTime().Unix()
		}
	}
	if opts.Signatures {
		sig, err := readSignature(in)
		if err != nil {
			return err
		}
		if sig != "" {
			f.Signatures = []metalink.Signature{{MediaType: "application/pgp-signature", Value: sig}}
		}
	}
	return nil
}

// readSignature returns the content of NAME.asc beside the input, "" if absent.
func readSignature(in input) (string, error) {
	name := filepath.FromSlash(in.open + ".asc")
	fi, err := in.root.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", &PathError{Path: in.display + ".asc", Err: classifyOpenError(err)}
	}
	if !fi.Mode().IsRegular() {
		return "", &PathError{Path: in.display + ".asc", Err: fmt.Errorf("%w (%s)", ErrNotRegular, describeMode(fi.Mode()))}
	}
	if fi.Size() > signatureMax {
		return "", &PathError{Path: in.display + ".asc", Err: fmt.Errorf("signature larger than %d bytes", signatureMax)}
	}
	f, err := in.root.OpenFile(name, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return "", &PathError{Path: in.display + ".asc", Err: classifyOpenError(err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, signatureMax+1))
	if err != nil {
		return "", &PathError{Path: in.display + ".asc", Err: err}
	}
	if len(b) > signatureMax {
		return "", &PathError{Path: in.display + ".asc", Err: fmt.Errorf("signature larger than %d bytes", signatureMax)}
	}
	return string(b), nil
}

// collect lists the files of one path argument.
func collect(p string, openRoot func(string) (*os.Root, error), exclude map[string]bool) ([]input, []string, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, nil, &PathError{Path: p, Err: unwrapPathErr(err)}
	}
	target := p
	if fi.Mode()&os.ModeSymlink != 0 {
		// The user named this link: publish what it points to, under the link's name.
		if target, err = filepath.EvalSymlinks(p); err != nil {
			return nil, nil, &PathError{Path: p, Err: unwrapPathErr(err)}
		}
		if fi, err = os.Stat(target); err != nil {
			return nil, nil, &PathError{Path: p, Err: unwrapPathErr(err)}
		}
	}
	switch {
	case fi.Mode().IsRegular():
		root, err := openRoot(filepath.Dir(target))
		if err != nil {
			return nil, nil, &PathError{Path: p, Err: unwrapPathErr(err)}
		}
		// The document name is the argument's base name (a link's own name); the
		// file is opened as its target inside the target's directory.
		return []input{{root: root, name: filepath.Base(p), open: filepath.Base(target), display: p}}, nil, nil
	case fi.IsDir():
		return walk(p, target, openRoot, exclude)
	default:
		return nil, nil, &PathError{Path: p, Err: fmt.Errorf("%w (%s)", ErrNotRegular, describeMode(fi.Mode()))}
	}
}

// walk lists the publishable files under directory dir (p as the user gave it).
func walk(p, dir string, openRoot func(string) (*os.Root, error), exclude map[string]bool) ([]input, []string, error) {
	root, err := openRoot(dir)
	if err != nil {
		return nil, nil, &PathError{Path: p, Err: unwrapPathErr(err)}
	}
	absDir, _ := filepath.Abs(dir)
	var out []input
	var warns []string
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		display := filepath.Join(p, filepath.FromSlash(name))
		if err != nil {
			return &PathError{Path: display, Err: unwrapPathErr(err)}
		}
		if name == "." {
			return nil
		}
		base := path.Base(name)
		if strings.HasPrefix(base, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if exclude[filepath.Join(absDir, filepath.FromSlash(name))] {
			return nil
		}
		if ext := strings.ToLower(path.Ext(base)); ext == ".meta4" || ext == ".metalink" {
			return nil
		}
		mode := d.Type()
		if mode&fs.ModeSymlink != 0 {
			st, err := root.Stat(filepath.FromSlash(name))
			if err != nil {
				return &PathError{Path: display, Err: classifyOpenError(unwrapPathErr(err))}
			}
			if st.IsDir() {
				warns = append(warns, fmt.Sprintf("%s: symbolic link to a directory, not followed", display))
				return nil
			}
			mode = st.Mode()
		}
		if !mode.IsRegular() {
			return &PathError{Path: display, Err: fmt.Errorf("%w (%s)", ErrNotRegular, describeMode(mode))}
		}
		out = append(out, input{root: root, name: name, open: name, display: display})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, warns, nil
}

// unwrapPathErr strips an *fs.PathError (our *PathError names the path already).
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// dropSignatureFiles removes NAME.asc inputs when NAME is an input of the same root.
func dropSignatureFiles(in []input) []input {
	type key struct {
		root *os.Root
		name string
	}
	have := map[key]bool{}
	for _, i := range in {
		have[key{i.root, i.open}] = true
	}
	return slices.DeleteFunc(in, func(i input) bool {
		return strings.HasSuffix(i.open, ".asc") && have[key{i.root, strings.TrimSuffix(i.open, ".asc")}]
	})
}

// checkNames refuses unsafe names and names that collide in the document.
func checkNames(in []input) error {
	seen := map[string]string{} // folded name -> display path
	for _, i := range in {
		if err := metalink.CheckName(i.name); err != nil {
			return &PathError{Path: i.display, Err: fmt.Errorf("cannot be published under this name: %w", err)}
		}
		k := fold(i.name)
		if prev, ok := seen[k]; ok {
			return &PathError{Path: i.display, Err: fmt.Errorf("%w %q as %s", ErrDuplicateName, i.name, prev)}
		}
		seen[k] = i.display
	}
	for _, i := range in {
		k := fold(i.name)
		for j := strings.IndexByte(k, '/'); j >= 0; j = nextSlash(k, j) {
			if prev, ok := seen[k[:j]]; ok {
				return &PathError{Path: i.display, Err: fmt.Errorf("%w: %q is a file (%s) and a directory here", ErrDuplicateName, k[:j], prev)}
			}
		}
	}
	return nil
}

func nextSlash(s string, j int) int {
	k := strings.IndexByte(s[j+1:], '/')
	if k < 0 {
		return -1
	}
	return j + 1 + k
}

// fold is the comparison key of names: NFC, then lower case.
func fold(s string) string { return strings.ToLower(norm.NFC.String(s)) }
