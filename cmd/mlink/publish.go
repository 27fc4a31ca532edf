package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/publish"
	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

func init() { register(newPublishCmd) }

// publishFlags are the raw command-line values of mlink publish.
type publishFlags struct {
	output, mirrorsFile, pieceHash, pieceSize, format, origin, publisher string
	identity, version, description, copyright, signature, cache          string
	mirrors, hashes, languages, oses                                     []string
	each, force, dynamic, jsonOut, noCache, quiet                        bool
}

func newPublishCmd(e *env) *cobra.Command {
	var fl publishFlags
	c := &cobra.Command{
		Use:   "publish PATH...",
		Short: "Write a Metalink for files or directory trees",
		Long: `Publish hashes files (one read pass each, pieces hashed in parallel) and writes a
Metalink describing them: size, whole-file hashes, piece hashes, mirror URLs with
priority and location, origin, dates, publisher and signatures found beside the files.

A file is published under its base name; a directory publishes its tree (hidden names
and *.meta4/*.metalink files skipped) as one multi-file metalink, or one NAME.meta4
beside each file with --each. Without -o or --each the metalink goes to standard output.
A file's URL on a mirror is the mirror's base URL joined with the file's path relative
to the published directory, percent-escaped.

Piece size "auto" is 1 MiB, doubled while a file would have more than 4096 pieces,
up to 16 MiB. Hashes are cached (default: $XDG_CACHE_HOME/mlink/hashes.db, or
~/.cache/mlink/hashes.db) keyed by path, size, mtime, ctime, device and inode, so
republishing an unchanged tree reads nothing again. SOURCE_DATE_EPOCH, when set, is
used as the published/updated date, for reproducible output.

A mirrors file has one mirror per line: URL [priority=N] [location=CC], # comments.
Output files are written to a temporary file in the same directory, then renamed;
an existing output is refused unless --force is given. Nothing is written when any
input is bad (unreadable, changed while hashed, a fifo/device/socket, a symbolic link
leaving the published directory, two inputs with the same name).

` + exitCodesHelp,
		Example: `  mlink publish -o app-1.0.meta4 --mirror https://eu.example.org/pub/,priority=1,location=de \
      --mirror https://us.example.org/pub/,priority=2 dist/app-1.0.tar.gz
  mlink publish --each --mirrors mirrors.txt --hash sha-256,sha-512 --origin https://example.org/pub/ dist/
  SOURCE_DATE_EPOCH=1700000000 mlink publish --format mirrormanager -o repomd.metalink repodata/repomd.xml
  mlink publish --json -o release.meta4 --piece-size 4MiB release/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runPublish(e, c, args, &fl) },
	}
	f := c.Flags()
	f.StringVarP(&fl.output, "output", "o", "", "write the metalink to `FILE` (via a temporary file and a rename)")
	f.BoolVar(&fl.each, "each", false, "write one NAME.meta4 beside each published file")
	f.BoolVar(&fl.force, "force", false, "replace existing output files")
	f.StringArrayVar(&fl.mirrors, "mirror", nil, "mirror base `URL[,priority=N][,location=CC]` (repeatable)")
	f.StringVar(&fl.mirrorsFile, "mirrors", "", "read mirrors from `FILE` (one per line: URL [priority=N] [location=CC])")
	f.StringSliceVar(&fl.hashes, "hash", []string{"sha-256"}, "whole-file `hashes`: sha-256, sha-512, sha-384, sha-224, sha-1, md5")
	f.StringVar(&fl.pieceHash, "piece-hash", "sha-256", "piece hash `type`")
	f.StringVar(&fl.pieceSize, "piece-size", "auto", "piece length: auto or `SIZE` (bytes, or with K/M/G binary units: 256K, 4MiB)")
	f.StringVar(&fl.format, "format", "v4", "output `format`: v4, v3 or mirrormanager")
	f.StringVar(&fl.origin, "origin", "", "`URL` where the metalink will be published (with --each: the base URL of the NAME.meta4 files)")
	f.BoolVar(&fl.dynamic, "dynamic", false, "mark the origin as dynamic (clients may refetch it for updates)")
	f.StringVar(&fl.publisher, "publisher", "", "publisher `NAME[,URL]`")
	f.StringVar(&fl.identity, "identity", "", "identity of the published files")
	f.StringVar(&fl.version, "version", "", "version of the published files")
	f.StringVar(&fl.description, "description", "", "description of the published files")
	f.StringVar(&fl.copyright, "copyright", "", "copyright statement")
	f.StringArrayVar(&fl.languages, "language", nil, "language `CODE` of the files (repeatable)")
	f.StringArrayVar(&fl.oses, "os", nil, "operating `SYSTEM` the files are for (repeatable)")
	f.StringVar(&fl.signature, "signature", "auto", "auto: embed NAME.asc found beside a file NAME; none: do not")
	f.StringVar(&fl.cache, "cache", "", "hash cache `FILE` (default in the user cache directory)")
	f.BoolVar(&fl.noCache, "no-cache", false, "do not use a hash cache")
	f.BoolVar(&fl.jsonOut, "json", false, "print a JSON summary on standard output (needs -o or --each)")
	f.BoolVarP(&fl.quiet, "quiet", "q", false, "print nothing but errors (no progress, notes, warnings or summary)")
	return c
}

// publishSummary is the --json output.
type publishSummary struct {
	Files       int      `json:"files"`
	Hashed      int      `json:"hashed"`
	Cached      int      `json:"cached"`
	Bytes       int64    `json:"bytes"`
	HashedBytes int64    `json:"hashed_bytes"`
	Format      string   `json:"format"`
	Outputs     []string `json:"outputs"`
	Cache       string   `json:"cache,omitempty"`
	Seconds     float64  `json:"seconds"`
	Warnings    []string `json:"warnings"`
}

func runPublish(e *env, c *cobra.Command, args []string, fl *publishFlags) error {
	started := time.Now()
	opts, format, err := publishOptions(e, fl)
	if err != nil {
		return err
	}
	if fl.each && fl.output != "" {
		return usageError("--each writes NAME.meta4 beside each file; it cannot be combined with -o")
	}
	if fl.jsonOut && !fl.each && fl.output == "" {
		return usageError("--json prints the summary on standard output: give -o FILE or --each for the metalink")
	}
	if fl.output != "" {
		if err := publishPreflight(fl.output, fl.force); err != nil {
			return err
		}
		opts.Exclude = append(opts.Exclude, fl.output)
	}
	warn := func(s string) {
		if !fl.quiet {
			fmt.Fprintln(e.stderr, "mlink: warning:", s)
		}
	}

	// Hash cache.
	var cachePath string
	if !fl.noCache {
		cachePath = fl.cache
		if cachePath == "" {
			if dir, err := os.UserCacheDir(); err == nil {
				cachePath = filepath.Join(dir, "mlink", "hashes.db")
			} else {
				warn("no user cache directory (" + err.Error() + "); hashing without a cache")
			}
		}
	}
	if cachePath != "" {
		cache, err := publish.OpenCache(cachePath)
		if err != nil {
			warn(err.Error() + "; hashing without a cache")
			cachePath = ""
		} else {
			defer cache.Close()
			opts.Hasher.Cache = cache
		}
	}

	// Progress bar on a terminal only.
	var bar *mpb.Bar
	var prog *mpb.Progress
	if publishIsTerminal(e.stderr) && !fl.quiet {
		opts.Start = func(files int, total int64) {
			prog = mpb.NewWithContext(e.ctx, mpb.WithOutput(e.stderr), mpb.WithWidth(60), mpb.WithRefreshRate(150*time.Millisecond))
			bar = prog.AddBar(total,
				mpb.PrependDecorators(decor.Name(fmt.Sprintf("hashing %d file(s) ", files)), decor.CountersKibiByte("% .1f / % .1f")),
				mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
		}
		opts.Hasher.Progress = func(n int64) {
			if bar != nil {
				bar.IncrInt64(n)
			}
		}
	}
	res, err := publish.Generate(e.ctx, args, opts)
	if prog != nil {
		if err != nil {
			bar.Abort(false)
		} else {
			bar.SetTotal(-1, true)
		}
		prog.Wait()
	}
	if err != nil {
		if e.ctx.Err() != nil {
			return withCode(exitInterrupted, err)
		}
		return err
	}
	notes, mirrorWarnings := publishMirrorNotes(opts.Mirrors, res.Documents)
	res.Warnings = append(res.Warnings, mirrorWarnings...)
	for _, w := range res.Warnings {
		warn(w)
	}
	if !fl.jsonOut && !fl.quiet {
		for _, n := range notes {
			fmt.Fprintln(e.stderr, "mlink: note:", n)
		}
	}

	// Encode everything before writing anything.
	type output struct {
		path string
		data []byte
	}
	var outs []output
	for _, d := range res.Documents {
		var buf bytes.Buffer
		if err := metalink.Encode(&buf, d.Metalink, format); err != nil {
			return err
		}
		if !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
			buf.WriteByte('\n')
		}
		p := fl.output
		if fl.each {
			if d.Source == "" {
				return fmt.Errorf("internal error: --each document without a source file")
			}
			p = d.Source + ".meta4"
		}
		outs = append(outs, output{p, buf.Bytes()})
	}
	if fl.each {
		for _, o := range outs {
			if err := publishPreflight(o.path, fl.force); err != nil {
				return err
			}
		}
	}
	sum := publishSummary{
		Files: res.Files, Hashed: res.Hashed, Cached: res.Cached, Bytes: res.Bytes, HashedBytes: res.HashedBytes,
		Format: string(format), Outputs: []string{}, Cache: cachePath, Warnings: res.Warnings,
	}
	if sum.Warnings == nil {
		sum.Warnings = []string{}
	}
	for _, o := range outs {
		if o.path == "" {
			if _, err := e.stdout.Write(o.data); err != nil {
				return err
			}
			continue
		}
		if err := writeFileAtomic(o.path, o.data, fl.force); err != nil {
			return err
		}
		sum.Outputs = append(sum.Outputs, o.path)
	}
	sum.Seconds = time.Since(started).Seconds()
	if fl.jsonOut {
		return writeJSON(e.stdout, sum)
	}
	if fl.quiet {
		return nil
	}
	where := "standard output"
	if len(sum.Outputs) == 1 {
		where = sum.Outputs[0]
	} else if len(sum.Outputs) > 1 {
		where = fmt.Sprintf("%d metalinks", len(sum.Outputs))
	}
	fmt.Fprintf(e.stderr, "mlink: published %d file(s), %s (%d hashed, %d from cache) to %s\n",
		sum.Files, publishHumanBytes(sum.Bytes), sum.Hashed, sum.Cached, where)
	return nil
}

// publishOptions turns flags and the environment into Generate options.
func publishOptions(e *env, fl *publishFlags) (publish.Options, metalink.Format, error) {
	var o publish.Options
	format := metalink.Format(strings.ToLower(fl.format))
	switch format {
	case metalink.FormatV4, metalink.FormatV3, metalink.FormatMirrorManager:
	default:
		return o, "", usageError("--format %q: want v4, v3 or mirrormanager", fl.format)
	}
	o.MMTimestamps = format == metalink.FormatMirrorManager
	for _, h := range fl.hashes {
		canon, err := checkHashName("--hash", h)
		if err != nil {
			return o, "", err
		}
		o.Hasher.Hashes = append(o.Hasher.Hashes, canon)
	}
	ph, err := checkHashName("--piece-hash", fl.pieceHash)
	if err != nil {
		return o, "", err
	}
	o.Hasher.PieceHash = ph
	ps, err := parsePieceSize(fl.pieceSize)
	if err != nil {
		return o, "", usageError("--piece-size: %v", err)
	}
	o.Hasher.PieceSize = ps
	if err := o.Hasher.Check(); err != nil {
		return o, "", usageError("%v", err)
	}
	for _, m := range fl.mirrors {
		mi, err := publish.ParseMirrorFlag(m)
		if err != nil {
			if base, _, _ := strings.Cut(m, ","); !strings.Contains(base, "://") && mistakeLooksLikeHost(base) {
				return o, "", usageError("--mirror %q: a mirror is a URL with its scheme: --mirror https://%s", m, m)
			}
			return o, "", usageError("--mirror %q: %v", m, err)
		}
		o.Mirrors = append(o.Mirrors, mi)
	}
	if fl.mirrorsFile != "" {
		f, err := os.Open(fl.mirrorsFile)
		if err != nil {
			return o, "", fmt.Errorf("--mirrors: %w", err)
		}
		ms, err := publish.ParseMirrorsFile(f)
		f.Close()
		if err != nil {
			return o, "", fmt.Errorf("mirrors file %s: %w", fl.mirrorsFile, err)
		}
		o.Mirrors = append(o.Mirrors, ms...)
	}
	seen := map[string]bool{}
	for _, m := range o.Mirrors {
		if seen[m.URL] {
			return o, "", usageError("mirror %s is listed twice", m.URL)
		}
		seen[m.URL] = true
	}
	o.Each = fl.each
	o.Origin, o.Dynamic = fl.origin, fl.dynamic
	if fl.dynamic && fl.origin == "" {
		return o, "", usageError("--dynamic needs --origin")
	}
	if fl.origin != "" {
		if err := publish.CheckOrigin(fl.origin, fl.each); err != nil {
			return o, "", usageError("--origin: %v", err)
		}
	}
	if fl.publisher != "" {
		p := &metalink.Publisher{Name: fl.publisher}
		if i := strings.LastIndexByte(fl.publisher, ','); i >= 0 {
			if u, err := url.Parse(strings.TrimSpace(fl.publisher[i+1:])); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				p.Name, p.URL = strings.TrimSpace(fl.publisher[:i]), u.String()
			}
		}
		o.Publisher = p
	}
	o.Identity, o.Version, o.Description, o.Copyright = fl.identity, fl.version, fl.description, fl.copyright
	o.Languages, o.OSes = fl.languages, fl.oses
	switch fl.signature {
	case "auto":
		o.Signatures = true
	case "none":
	default:
		return o, "", usageError("--signature %q: want auto or none", fl.signature)
	}
	o.Generator = "mlink/" + version()
	now := time.Now()
	if s, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok && s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 253402300799 {
			return o, "", usageError("SOURCE_DATE_EPOCH=%q is not a Unix time in seconds", s)
		}
		now = time.Unix(n, 0)
	}
	o.Published, o.Updated = now.UTC(), now.UTC()
	return o, format, nil
}

// publishMirrorNotes explains what URL each mirror gives the published files.
// A base URL without a trailing "/" works as a directory all the same; a note shows
// a file's URL under it so that nobody has to guess. A base URL that ends with the
// name of a file it serves is most likely that file's own URL given instead of
// its directory's (giving ".../app.tar.gz/app.tar.gz"): a warning.
func publishMirrorNotes(mirrors []publish.Mirror, docs []publish.Document) (notes, warnings []string) {
	for _, m := range mirrors {
		bu, err := url.Parse(m.URL)
		if err != nil {
			continue
		}
		last := path.Base(strings.TrimSuffix(bu.Path, "/"))
		var example, doubled string
		for _, d := range docs {
			for _, f := range d.Metalink.Files {
				for _, u := range f.URLs {
					if !strings.HasPrefix(u.URL, m.URL) {
						continue
					}
					if example == "" {
						example = fmt.Sprintf("%s is at %s", f.Name, u.URL)
					}
					if doubled == "" && last != "" && last != "/" && last == path.Base(f.Name) {
						doubled = fmt.Sprintf("mirror %s ends with the name of the file %s, which is published at %s; "+
							"give the URL of the directory holding it on the mirror instead: %s",
							m.URL, f.Name, u.URL, strings.TrimSuffix(m.URL, last))
					}
				}
			}
		}
		if doubled != "" {
			warnings = append(warnings, doubled)
		} else if example != "" && bu.Path != "" && !strings.HasSuffix(bu.Path, "/") {
			notes = append(notes, fmt.Sprintf("mirror %s has no trailing \"/\"; it is used as a directory: %s", m.URL, example))
		}
	}
	return notes, warnings
}

// parsePieceSize parses "auto" (0) or a size with an optional binary unit.
func parsePieceSize(s string) (int64, error) {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		return 0, nil
	}
	n, ok := parseByteSize(s, false)
	if !ok || n <= 0 || n > publish.MaxPieceSize {
		return 0, fmt.Errorf("%q: want auto or a size from %d bytes to 1GiB (e.g. 256K, 4MiB)", s, publish.MinPieceSize)
	}
	if n < publish.MinPieceSize {
		return 0, fmt.Errorf("%q: smaller than %d bytes", s, publish.MinPieceSize)
	}
	return n, nil
}

// publishPreflight fails early when an output file exists and --force is not given.
func publishPreflight(path string, force bool) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("output %s is a directory", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("output %s exists and is not a regular file (%s); not replacing it even with --force", path, fi.Mode().Type())
	case !force:
		return fmt.Errorf("output %s already exists (use --force to replace it)", path)
	}
	return nil
}

func publishIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func publishHumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
