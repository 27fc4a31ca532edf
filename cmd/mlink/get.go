package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
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
		o                          fetch.Options
		limitRate, mirrorLimitRate string
		quiet, jsonOut, verbose    bool
		progress                   string
	)
	c := &cobra.Command{
		Use:   "get METALINK...",
		Short: "Download the files of metalinks from all their mirrors at once",
		Long: `get downloads every file a metalink describes (or those matching --select) from
many mirrors at once. METALINK is a local .meta4/.metalink file or an http(s) URL of
one (fetched with TLS verification; credentials in that URL are used for it alone and
never reach a mirror).

Work follows each mirror's measured throughput; the last pieces are raced on idle
fast mirrors. Every piece is hashed as it arrives and the whole file is hashed before
it gets its name: a bad piece is fetched again from another mirror, a mirror sending
bad data is quarantined after --max-bad-pieces, a mirror answering 200 to a Range
request is only used as a last-resort sequential source. Data is written to NAME.part
in the target directory and renamed (without replacing anything) after verification.
An existing file that verifies is left alone with no network request; an existing
different file is never replaced without --overwrite. An interrupted download (Ctrl-C,
kill -9, power loss) resumes when the same command is run again: NAME.part.mlj records
the pieces that were fsynced, and every piece of NAME.part is re-verified before use.
A second mlink writing the same output fails at once (NAME.part.lock).

No hash at all: refused unless --insecure-no-hash. Only md5/sha-1: a warning
(--require-strong-hash refuses). Only http and https mirrors are used.

` + exitCodesHelp,
		Example: `  mlink get release.meta4
  mlink get https://example.org/release.tar.gz.meta4 -d downloads
  mlink get dist.meta4 --select '*.iso' --location de,fr --limit-rate 20M
  mlink get one-file.meta4 -o renamed.bin --json > report.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if o.LimitRate, err = getParseRate(limitRate); err != nil {
				return usageError("--limit-rate: %v", err)
			}
			if o.MirrorLimitRate, err = getParseRate(mirrorLimitRate); err != nil {
				return usageError("--mirror-limit-rate: %v", err)
			}
			if o.Connections < 0 || o.PerMirror < 0 || o.MaxMirrors < 0 || o.MaxBadPieces < 0 {
				return usageError("counts must not be negative")
			}
			if o.Output != "" && len(args) > 1 {
				return usageError("--output needs a single METALINK")
			}
			for i, l := range o.Location {
				o.Location[i] = strings.ToLower(strings.TrimSpace(l))
			}
			switch progress {
			case "auto", "bar", "plain", "none":
			default:
				return usageError("--progress must be auto, bar, plain or none")
			}
			if quiet {
				progress = "none"
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			o.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
			if quiet {
				o.Logger = nil
			}
			return runGet(e, args, o, progress, quiet, jsonOut)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Dir, "dir", "d", ".", "target directory")
	f.StringVarP(&o.Output, "output", "o", "", "save the (single selected) file under this name, relative to --dir")
	f.IntVarP(&o.Connections, "connections", "x", 16, "total concurrent requests")
	f.IntVar(&o.PerMirror, "per-mirror", 4, "concurrent requests per mirror")
	f.IntVar(&o.MaxMirrors, "max-mirrors", 0, "use at most N mirrors per file (0: all)")
	f.StringSliceVar(&o.Location, "location", nil, "prefer mirrors in these countries (ISO 3166 codes, comma-separated)")
	f.StringVar(&limitRate, "limit-rate", "", "overall rate limit in bytes/s (suffixes k, M, G: 1024-based)")
	f.StringVar(&mirrorLimitRate, "mirror-limit-rate", "", "per-mirror rate limit in bytes/s (suffixes k, M, G)")
	f.IntVar(&o.MaxBadPieces, "max-bad-pieces", 2, "quarantine a mirror after this many pieces failed their hash")
	f.BoolVar(&o.InsecureNoHash, "insecure-no-hash", false, "download files that have no usable hash (NOT verified)")
	f.BoolVar(&o.RequireStrongHash, "require-strong-hash", false, "refuse files whose only hashes are md5 or sha-1")
	f.BoolVar(&o.Overwrite, "overwrite", false, "replace an existing file that differs")
	f.StringSliceVar(&o.Select, "select", nil, "only files matching these globs (on the name or its last component)")
	f.DurationVar(&o.LowSpeedTime, "low-speed-time", 5*time.Second, "abandon a request slower than 1 KiB/s over this window")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	f.BoolVar(&jsonOut, "json", false, "print the final report as JSON on stdout")
	f.StringVar(&progress, "progress", "auto", "progress display: auto (bar on a terminal, else plain lines), bar, plain, none")
	f.BoolVarP(&verbose, "verbose", "v", false, "log scheduling details on stderr")
	return c
}

// getParseRate parses "500k", "20M", "1.5G" (1024-based) or plain bytes/s; "" is 0.
func getParseRate(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	mult := 1.0
	switch strings.ToLower(s[len(s)-1:]) {
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mult > 1<<50 {
		return 0, fmt.Errorf("bad rate %q", s)
	}
	return int64(v * mult), nil
}

// getResult is the --json output.
type getResult struct {
	Metalinks []metalinkResult `json:"metalinks"`
}

type metalinkResult struct {
	Source  string        `json:"source"`
	Error   string        `json:"error,omitempty"`
	Refused []string      `json:"refused,omitempty"`
	Report  *fetch.Report `json:"report,omitempty"`
}

func runGet(e *env, args []string, o fetch.Options, progress string, quiet, jsonOut bool) error {
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var res getResult
	code := exitOK
	var firstErr error
	note := func(c int, err error) {
		if c > code && code != exitInterrupted || c == exitInterrupted {
			code = c
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, src := range args {
		mr := metalinkResult{Source: redactSource(src)}
		m, err := loadMetalink(ctx, src)
		if err != nil {
			mr.Error = err.Error()
			res.Metalinks = append(res.Metalinks, mr)
			c := exitError
			if errors.Is(err, metalink.ErrNotMetalink) || errors.Is(err, metalink.ErrTooLarge) || errors.Is(err, metalink.ErrForbidden) || errors.Is(err, metalink.ErrNoFiles) {
				c = exitVerify
			}
			if ctx.Err() != nil {
				c = exitInterrupted
			}
			note(c, fmt.Errorf("%s: %w", redactSource(src), err))
			if !quiet {
				fmt.Fprintf(e.stderr, "mlink: %s: %v\n", redactSource(src), err)
			}
			continue
		}
		for _, fe := range m.Refused {
			mr.Refused = append(mr.Refused, fe.Error())
			if !quiet {
				fmt.Fprintf(e.stderr, "mlink: %s: refused %v\n", redactSource(src), fe)
			}
			note(exitVerify, fmt.Errorf("%s: %w", redactSource(src), fe))
		}
		if len(m.Files) == 0 {
			res.Metalinks = append(res.Metalinks, mr)
			continue
		}
		ui := newGetUI(e.stderr, progress, quiet)
		opts := o
		opts.OnEvent = ui.event
		rep, err := fetch.Get(ctx, m, opts)
		ui.close()
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
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	if code == exitOK {
		return nil
	}
	if code == exitInterrupted {
		firstErr = fmt.Errorf("%w: interrupted; run the same command again to resume", firstErr)
	}
	return withCode(code, firstErr)
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
			fmt.Fprintf(w, "%s: done, %s in %.2fs (%s/s), %d mirrors, %s verified\n", f.Path, humanBytes(float64(f.Size)), f.Duration.Seconds(), humanBytes(sp), len(f.Mirrors), f.Hash)
			if f.Resumed > 0 {
				fmt.Fprintf(w, "  resumed: %d of %d pieces were already verified on disk\n", f.Resumed, f.Pieces)
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

// loadMetalink reads a local metalink or fetches one over http(s).
func loadMetalink(ctx context.Context, src string) (*metalink.Metalink, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return metalink.DecodeFile(src, nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	if u := req.URL.User; u != nil {
		pw, _ := u.Password()
		req.SetBasicAuth(u.Username(), pw) // for this origin only (fetch.RedirectPolicy strips it elsewhere)
		req.URL.User = nil
	}
	req.Header.Set("Accept", "application/metalink4+xml, application/metalink+xml;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "mlink")
	client := fetch.NewClient(10*time.Second, 4)
	client.Timeout = 2 * time.Minute
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the metalink: HTTP %s", resp.Status)
	}
	return metalink.Decode(resp.Body, &metalink.DecodeOptions{BaseURL: resp.Request.URL.String(), MaxBytes: getMaxMetalinkBytes})
}

func redactSource(src string) string {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
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
