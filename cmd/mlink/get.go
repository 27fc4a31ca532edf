package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlinkdev/mlink/fetch"
	"github.com/mlinkdev/mlink/metalink"
)

func init() { register(newGetCmd) }

// getMaxMetalinkBytes caps a metalink fetched over HTTP.
const getMaxMetalinkBytes = 8 << 20

func newGetCmd(e *env) *cobra.Command {
	var (
		o  fetch.Options
		ff fetchFlags
	)
	c := &cobra.Command{
		Use:   "get SOURCE...",
		Short: "Download the files of metalinks (or Metalink/HTTP URLs) from all their mirrors at once",
		Long: `get downloads every file a metalink describes (or those matching --select) from
many mirrors at once. SOURCE is a local .meta4/.metalink file or an http(s) URL (fetched
with TLS verification; credentials in that URL are sent to its own server alone and
never reach a mirror; an http:// URL gets a warning, as the hashes it gives could have
been changed on the way). For a URL, get follows Metalink/HTTP (RFC 6249), in this order:

  - the URL is a metalink (Content-Type application/metalink4+xml or
    application/metalink+xml, or a path ending in .meta4/.metalink): download it;
  - its server answers a HEAD request with Link: <...>; rel=describedby;
    type="application/metalink4+xml": fetch that metalink and download from it (of a
    metalink of several files, the one named like the URL, else all of them);
  - its server sends a SHA-256 Digest or Repr-Digest: download from the URL and every
    Link rel=duplicate mirror at once, verified against that digest (md5 or sha-1 only:
    weak, as below). The file is named after the URL's last path segment (or -o);
  - none of these: a plain resumable download from the URL alone, NOT verified (a line
    says so; Link rel=duplicate mirrors without a digest are not used).
Only the first server's header fields are read, never a mirror's.

Work follows each mirror's measured throughput; the last pieces are raced on idle
fast mirrors. Every piece is hashed as it arrives and the whole file is hashed before
it gets its name: a bad piece is fetched again from another mirror, a mirror sending
bad data is quarantined after --max-bad-pieces, a mirror answering 200 to a Range
request is only used as a last-resort sequential source. Connections (-x) are dealt
one at a time round the mirrors; with more mirrors than connections, the slowest in
use gives one up to an untried mirror at most once a second. Pieces over 64 MiB are
not checked one by one (a warning; the whole-file hash still is), and a file whose
only hashes are such pieces is refused. Data is written to NAME.part
in the target directory and renamed (without replacing anything) after verification.
An existing file that verifies is left alone with no network request; an existing
different file is never replaced without --overwrite. An interrupted download (Ctrl-C,
kill -9, power loss) resumes when the same command is run again: NAME.part.mlj records
the pieces that were fsynced, and every piece of NAME.part is re-verified before use.
A second mlink writing the same output fails at once (NAME.part.lock). Each mirror's
ETag or Last-Modified is kept in the journal and sent as If-Range: a mirror whose file
changed is dropped before it sends a byte, as is one whose Digest/Repr-Digest header
names another version. Before any request the target directory must be writable and
have room for what is still missing.

The files of a multi-file metalink download several at once (--max-files, default 8)
under one budget: --connections and --limit-rate count across all files, --per-mirror
and --mirror-limit-rate per mirror host across files.

No hash at all in a metalink: refused unless --insecure-no-hash. Only md5/sha-1: a
warning (--require-strong-hash refuses). Only http and https mirrors are used.

Common mistakes: a directory as SOURCE (give the .meta4 file inside it); a host name
without its scheme, "releases.example.org/app.meta4" (write https://...); ftp:// or
file:// URLs (mlink fetches http:// and https:// only).

` + exitCodesHelp,
		Example: `  mlink get release.meta4
  mlink get https://example.org/release.tar.gz.meta4 -d downloads
  mlink get https://example.org/release.tar.gz        # Metalink/HTTP: describedby, mirrors + digest, or plain
  mlink get https://example.org/download?id=7 -o app.tar.gz
  mlink get dist.meta4 --select '*.iso' --location de,fr --limit-rate 20M
  mlink get one-file.meta4 -o renamed.bin --json > report.json

  # mistakes and what they say:
  mlink get dist/                     # dist/ is a directory; give the path of a .meta4 or .metalink file inside it
  mlink get example.org/app.meta4     # no such file; to download from the network give the full URL: https://example.org/app.meta4
  mlink get ftp://example.org/a.iso   # unsupported scheme "ftp": mlink fetches http:// and https:// URLs only`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := ff.apply(&o); err != nil {
				return err
			}
			if o.Output != "" && len(args) > 1 {
				return usageError("--output needs a single SOURCE")
			}
			level := slog.LevelWarn
			if ff.verbose {
				level = slog.LevelDebug
			}
			o.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
			if ff.quiet {
				o.Logger = nil
			}
			return runGet(e, args, o, ff.progress, ff.quiet, ff.jsonOut)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Dir, "dir", "d", ".", "target directory")
	f.StringVarP(&o.Output, "output", "o", "", "save the (single selected) file under this name, relative to --dir")
	ff.register(f, &o)
	f.Var(getCountFlag{&o.MaxFiles}, "max-files", "download at most N files of a metalink at once (0: 8; 1: one after another)")
	f.BoolVar(&o.InsecureNoHash, "insecure-no-hash", false, "download files that have no usable hash (NOT verified)")
	f.BoolVar(&o.Overwrite, "overwrite", false, "replace an existing file that differs")
	return c
}

// getParseRate parses "500k", "20M", "1.5G" (1024-based) or plain bytes/s; "" is 0.
func getParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	t = strings.TrimSuffix(t, "/s") // 20MB/s
	n, ok := parseByteSize(t, true)
	if !ok || n > 1<<50 {
		return 0, fmt.Errorf("bad rate %q: want bytes per second, e.g. 500K, 20M, 1.5GiB", s)
	}
	return n, nil
}

// getResult is the --json output.
type getResult struct {
	Metalinks []metalinkResult `json:"metalinks"`
}

type metalinkResult struct {
	Source string `json:"source"`
	// Discovery is how an http(s) SOURCE was understood: metalink, describedby,
	// duplicates or plain (fetch.DiscoveryKind); "file" for a local metalink.
	Discovery   string        `json:"discovery,omitempty"`
	MetalinkURL string        `json:"metalink_url,omitempty"`
	Mirrors     int           `json:"link_mirrors,omitempty"`
	Warnings    []string      `json:"warnings,omitempty"`
	Error       string        `json:"error,omitempty"`
	Refused     []string      `json:"refused,omitempty"`
	Report      *fetch.Report `json:"report,omitempty"`
}

// getErrors are the errors of several sources, printed one per line by run (each
// after its own "mlink: ").
type getErrors []error

func (es getErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\nmlink: ")
}

func (es getErrors) Unwrap() []error { return es }

func runGet(e *env, args []string, o fetch.Options, progress string, quiet, jsonOut bool) error {
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var res getResult
	code := exitOK
	var errs getErrors
	// Errors are not printed here: run prints the returned error, once.
	note := func(c int, err error) {
		if c > code && code != exitInterrupted || c == exitInterrupted {
			code = c
		}
		errs = append(errs, err)
	}
	for _, src := range args {
		red := redactSource(src)
		mr := metalinkResult{Source: red}
		d, err := getSource(ctx, src, o.Output)
		if err != nil {
			mr.Error = err.Error()
			res.Metalinks = append(res.Metalinks, mr)
			note(sourceError(ctx, src, err))
			continue
		}
		m := d.Metalink
		mr.Discovery, mr.MetalinkURL, mr.Mirrors, mr.Warnings = string(d.Kind), d.MetalinkURL, d.Mirrors, d.Warnings
		if !isHTTPURL(src) {
			mr.Discovery = "file"
		}
		for _, fe := range m.Refused {
			mr.Refused = append(mr.Refused, fe.Error())
			note(exitVerify, fmt.Errorf("%s: refused %w", red, fe))
		}
		if len(m.Files) == 0 {
			res.Metalinks = append(res.Metalinks, mr)
			continue
		}
		opts := o
		plain := d.Kind == fetch.DiscoveryPlain
		if !plain && getPlainHTTP(src) {
			// SECURITY.md rule 18, catalogue case 29: the metalink (or digest) is the
			// trust root; over plain http anyone on the path could have changed it.
			d.Warnings = append(d.Warnings, getPlainHTTPWarning)
			mr.Warnings = d.Warnings
		}
		if !quiet {
			for _, w := range d.Warnings {
				fmt.Fprintf(e.stderr, "warning: %s: %s\n", red, w)
			}
			switch d.Kind {
			case fetch.DiscoveryDescribedBy:
				fmt.Fprintf(e.stderr, "%s: Metalink/HTTP: using the metalink of its Link rel=describedby, %s\n", red, d.MetalinkURL)
			case fetch.DiscoveryDuplicates:
				if d.Mirrors == 0 {
					fmt.Fprintf(e.stderr, "%s: Metalink/HTTP: no mirrors announced; verified against the server's %s\n", red, getHashNames(m.Files[0].Hashes))
				} else {
					fmt.Fprintf(e.stderr, "%s: Metalink/HTTP: %d mirror(s) from Link rel=duplicate besides the server itself, verified against its %s\n",
						red, d.Mirrors, getHashNames(m.Files[0].Hashes))
				}
			case fetch.DiscoveryPlain:
				fmt.Fprintf(e.stderr, "%s: NOT verified: the server published no digest (no Link rel=describedby metalink, no Digest or Repr-Digest); a plain download from it alone\n", red)
			}
		}
		if opts.Client == nil && isHTTPURL(src) && getHasUserinfo(src) &&
			(d.Kind == fetch.DiscoveryDuplicates || d.Kind == fetch.DiscoveryPlain) {
			// Credentials in SOURCE go to its own server when SOURCE is itself a source
			// of the file (a digest or a plain download), never elsewhere. The
			// credentials of a metalink never reach its mirrors, not even on the same
			// origin (SECURITY.md case 65).
			client := fetch.NewClient(opts.ConnectTimeout, max(opts.Connections, 16))
			client.Transport = fetch.OriginAuth(client.Transport, src)
			defer client.CloseIdleConnections()
			opts.Client = client
		}
		ui := newGetUI(e.stderr, progress, quiet)
		ui.expect(getSelected(m.Files, opts.Select))
		opts.OnEvent = ui.event
		opts.Logger = ui.logger(opts.Logger) // log lines above the live bars
		if plain {
			// This one download has nothing to verify against; the line above said so.
			opts.InsecureNoHash = true
			opts.OnEvent = func(ev fetch.Event) {
				if ev.Kind == fetch.EventWarning && strings.Contains(ev.Message, "no supported hash") {
					return
				}
				ui.event(ev)
			}
		}
		rep, err := fetch.Get(ctx, m, opts)
		ui.close()
		if err == nil && ctx.Err() != nil {
			// Interrupted before Get could start every file (it then returns no error
			// for those): say so rather than exit 0 with files missing.
			err = fmt.Errorf("%s: %w", red, ctx.Err())
		}
		mr.Report = rep
		if err != nil {
			mr.Error = err.Error()
			note(getExitCode(ctx, err), err)
		}
		if !quiet {
			getPrintSummary(e.stderr, rep)
		}
		res.Metalinks = append(res.Metalinks, mr)
	}
	if jsonOut {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	}
	if code == exitOK {
		return nil
	}
	if code == exitInterrupted {
		// One line for the interruption, not one "context canceled" per file; other
		// errors (a file that failed before the interruption) are kept.
		errs = getWithoutCancel(errs)
		errs = append(errs, errInterrupted{})
	}
	var err error = errs
	if len(errs) == 1 {
		err = errs[0]
	}
	return withCode(code, err)
}

// errInterrupted is how an interrupted download ends: one line saying how to go on.
type errInterrupted struct{}

func (errInterrupted) Error() string { return "interrupted; run the same command again to resume" }
func (errInterrupted) Unwrap() error { return context.Canceled }

// getWithoutCancel flattens joined errors and drops those caused by cancellation.
func getWithoutCancel(errs []error) getErrors {
	var out getErrors
	for _, e := range errs {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			out = append(out, getWithoutCancel(j.Unwrap())...)
		} else if !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
			out = append(out, e)
		}
	}
	return out
}

// getIsBadInput reports whether a source failed because of what it says (exit 3)
// rather than because it could not be read (exit 1).
func getIsBadInput(err error) bool {
	for _, s := range []error{metalink.ErrNotMetalink, metalink.ErrTooLarge, metalink.ErrForbidden, metalink.ErrNoFiles,
		metalink.ErrUnsafeName, metalink.ErrBadHash, metalink.ErrSyntax, fetch.ErrVerify} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func getHashNames(hs []metalink.Hash) string {
	var names []string
	for _, h := range hs {
		names = append(names, h.Type)
	}
	return strings.Join(names, " and ") + " digest"
}

// getExitCode maps a fetch error to the exit codes of mlink --help.
func getExitCode(ctx context.Context, err error) int {
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, fetch.ErrUsage):
		return exitUsage
	case errors.Is(err, fetch.ErrVerify), errors.Is(err, fetch.ErrNoSource), errors.Is(err, fetch.ErrNoHash),
		errors.Is(err, fetch.ErrWeakHash):
		return exitVerify
	}
	return exitError
}

func getPrintSummary(w io.Writer, rep *fetch.Report) {
	if rep == nil {
		return
	}
	for _, f := range rep.Files {
		switch f.State {
		case "done":
			sp := 0.0
			if s := f.Duration.Seconds(); s > 0 {
				sp = float64(f.Size) / s
			}
			verified := f.Hash + " verified"
			if f.Hash == "" {
				verified = "NOT verified"
			}
			fmt.Fprintf(w, "%s: done, %s in %.2fs (%s/s), %d %s, %s\n", f.Path, humanBytes(float64(f.Size)), f.Duration.Seconds(), humanBytes(sp), len(f.Mirrors), plural(len(f.Mirrors), "mirror", "mirrors"), verified)
			switch {
			case f.Resumed > 0 && f.ResumedPartial > 0:
				fmt.Fprintf(w, "  resumed: %d of %d pieces were already verified on disk, and %s of unfinished ones\n",
					f.Resumed, f.Pieces, humanBytes(float64(f.ResumedPartial)))
			case f.Resumed > 0:
				fmt.Fprintf(w, "  resumed: %d of %d pieces were already verified on disk\n", f.Resumed, f.Pieces)
			case f.ResumedPartial > 0:
				fmt.Fprintf(w, "  resumed: %s of unfinished pieces were on disk (each piece still verified whole)\n", humanBytes(float64(f.ResumedPartial)))
			}
			if f.Restarted > 0 {
				fmt.Fprintf(w, "  restarted from zero %s: the source changed during the download (no piece hashes to keep what was fetched)\n", getTimes(f.Restarted))
			}
			for _, m := range f.Mirrors {
				if m.BadPieces > 0 || m.State != fetch.MirrorActive && m.State != fetch.MirrorIdle {
					fmt.Fprintf(w, "  %s: %s, %d bad pieces, %d errors %s\n", m.URL, m.State, m.BadPieces, m.Errors, m.LastError)
				}
			}
		case "already-complete":
			fmt.Fprintf(w, "%s: already complete (%s verified, nothing downloaded)\n", f.Path, f.Hash)
		}
	}
}

// loadMetalink reads a local metalink or, for an http(s) URL, what fetch.Discover
// finds there (a metalink, a describedby metalink, or one file built from the
// Metalink/HTTP headers). mlink verify and mirrors check use it; a URL whose server
// publishes no Metalink/HTTP at all is an error here (there is nothing to check).
func loadMetalink(ctx context.Context, src string) (*metalink.Metalink, error) {
	d, err := getSource(ctx, src, "")
	if err != nil {
		if d != nil {
			return d.Metalink, err
		}
		return nil, err
	}
	if d.Kind == fetch.DiscoveryPlain {
		return nil, fmt.Errorf("%w: %s is not a metalink and its server published no Metalink/HTTP (no Link rel=describedby, no Digest or Repr-Digest)",
			metalink.ErrNotMetalink, redactSource(src))
	}
	return d.Metalink, nil
}

// sourceError is the error of a metalink source that could not be loaded, named by
// the (redacted) source once, with its exit code: 130 when interrupted, 3 when the
// source is bad input (not a metalink, too large, unsafe, refused), else 1.
func sourceError(ctx context.Context, src string, err error) (int, error) {
	c := exitError
	if getIsBadInput(err) {
		c = exitVerify
	}
	if ctx.Err() != nil {
		c = exitInterrupted
	}
	if red := redactSource(src); !strings.HasPrefix(err.Error(), red) {
		err = fmt.Errorf("%s: %w", red, err)
	}
	return c, err
}

// isHTTPURL reports whether src is an http or https URL (scheme in any case).
func isHTTPURL(src string) bool {
	m := mistakeSchemeRE.FindString(src)
	if m == "" {
		return false
	}
	s := strings.ToLower(strings.TrimSuffix(m, "://"))
	return s == "http" || s == "https"
}

// getSource loads what SRC names: a local metalink file, or (http and https URLs)
// what fetch.Discover finds. name is the output name for a file built from headers
// (the -o flag), "" for the URL's own. The common mistakes (a directory, a host name
// without its scheme, another scheme) get the errors of metalinkArgMistake. On a
// decode error the returned Discovery, when not nil, holds the document with its
// refused entries.
func getSource(ctx context.Context, src, name string) (*fetch.Discovery, error) {
	if err := metalinkArgMistake(src); err != nil {
		return nil, err
	}
	if isHTTPURL(src) {
		client := fetch.NewClient(10*time.Second, 4)
		client.Timeout = 2 * time.Minute
		defer client.CloseIdleConnections()
		return fetch.Discover(ctx, src, fetch.DiscoverOptions{Client: client, MaxMetalinkBytes: getMaxMetalinkBytes, Name: name})
	}
	m, err := metalink.DecodeFile(src, nil) // its errors start with src
	d := &fetch.Discovery{Kind: fetch.DiscoveryMetalink, Metalink: m}
	if err != nil && m == nil {
		d = nil
	}
	return d, err
}

func getHasUserinfo(src string) bool {
	u, err := url.Parse(src)
	return err == nil && u.User != nil
}

// getPlainHTTPWarning is printed when the hashes come from a plain http SOURCE.
const getPlainHTTPWarning = "fetched over plain http, not https: the hashes it gives could have been changed on the way; use an https URL"

// getPlainHTTP reports whether src is an http:// (not https://) URL.
func getPlainHTTP(src string) bool {
	return isHTTPURL(src) && strings.EqualFold(mistakeSchemeRE.FindString(src), "http://")
}

func redactSource(src string) string {
	if isHTTPURL(src) {
		return fetch.Redact(src)
	}
	return src
}

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return getTermIsTerminal(int(f.Fd()))
}
