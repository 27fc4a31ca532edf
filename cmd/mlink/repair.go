package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlinkdev/mlink/fetch"
	"github.com/mlinkdev/mlink/metalink"
)

func init() { register(newRepairCmd) }

func newRepairCmd(e *env) *cobra.Command {
	var (
		o  fetch.Options
		ff fetchFlags
	)
	c := &cobra.Command{
		Use:   "repair METALINK [PATH]",
		Short: "Refetch only the bad or missing pieces of an existing file",
		Long: `repair mends a local copy of a metalink's file in place: it hash-scans the file
(every piece and every whole-file hash, as 'mlink verify' does), then fetches only the
pieces that are bad or missing from the metalink's mirrors, several byte ranges per
request where a mirror supports multipart/byteranges. Every piece is verified before
it is written at its offset, so an interrupted repair (Ctrl-C, kill -9, power loss)
leaves the file no worse than before; run the same command again to continue. At the
end the whole file is verified again. A file that is already good costs no request.

A file shorter than the metalink's size is extended (its missing tail counts as bad
pieces); bytes beyond the size are cut off once every piece is good. A metalink without
piece hashes cannot locate damage: repair refuses, use 'mlink get --overwrite'. A file
that does not exist is not repaired: use 'mlink get'. A mirror that ignores Range
(answers 200) is read from the start, once, only when no other mirror can supply the
pieces still bad; a mirror sending a bad piece is asked no more for it and is
quarantined after --max-bad-pieces. repair takes the same lock as 'mlink get'
(NAME.part.lock), so a download and a repair of the same file never run at once.

PATH follows 'mlink verify': for a single-file metalink it is the file, or a directory
holding it (default: the file's name in the current directory); for a multi-file
metalink it is the directory holding the files (default "."). METALINK is a local file
or an http(s) URL.

` + exitCodesHelp,
		Example: `  mlink repair ubuntu.iso.meta4                  # repairs ./ubuntu-24.04.iso (the name in the metalink)
  mlink repair https://example.org/u.iso.meta4 ~/Downloads/u.iso
  mlink repair release.meta4 dist/ --json        # multi-file: every file under dist/
  mlink repair release.meta4 dist/ --select '*.iso' --limit-rate 5M`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := ff.apply(&o); err != nil {
				return err
			}
			p := ""
			if len(args) == 2 {
				p = args[1]
			}
			return runRepair(e, args[0], p, o, repairUI{progress: ff.progress, quiet: ff.quiet, json: ff.jsonOut, verbose: ff.verbose})
		},
	}
	ff.register(c.Flags(), &o)
	return c
}

// repairResult is the --json output.
type repairResult struct {
	Metalink string `json:"metalink"`
	// Good is true when every file is good now (already, or repaired).
	Good    bool                  `json:"good"`
	Files   []*fetch.RepairReport `json:"files"`
	Refused []string              `json:"refused,omitempty"`
}

// repairUI is how runRepair talks to the user.
type repairUI struct {
	progress             string
	quiet, json, verbose bool
}

func runRepair(e *env, src, p string, o fetch.Options, ui repairUI) error {
	quiet, jsonOut := ui.quiet, ui.json
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	m, err := loadMetalink(ctx, src)
	if err != nil {
		return withCode(sourceError(ctx, src, err))
	}
	res := repairResult{Metalink: redactSource(src), Good: true}
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
	for _, fe := range m.Refused {
		res.Refused = append(res.Refused, fe.Error())
		res.Good = false
		note(exitVerify, fmt.Errorf("%s: refused %w", redactSource(src), fe))
	}
	files, err := repairSelect(m.Files, o.Select)
	if err != nil {
		return usageError("%v", err)
	}

	// Where the files are, as in mlink verify: a directory the metalink names are
	// opened in, or, for a single file named by the user, that file.
	dir, output := ".", ""
	single := len(m.Files) == 1 && len(m.Refused) == 0
	if p != "" {
		if fi, err := os.Stat(p); (err == nil && fi.IsDir()) || !single {
			dir = p
		} else {
			dir, output = filepath.Dir(p), filepath.Base(p)
		}
	}
	for _, f := range files {
		opts := o
		opts.Dir, opts.Output = dir, output
		show := newGetUI(e.stderr, ui.progress, quiet)
		opts.OnEvent = show.event
		if !quiet {
			level := slog.LevelWarn
			if ui.verbose {
				level = slog.LevelDebug
			}
			opts.Logger = slog.New(slog.NewTextHandler(show, &slog.HandlerOptions{Level: level}))
		}
		rep, err := fetch.Repair(ctx, f, opts)
		show.close()
		if rep.Path == "" {
			rep.Path = filepath.Join(dir, filepath.FromSlash(f.Name))
		}
		res.Files = append(res.Files, rep)
		if err != nil {
			res.Good = false
			note(repairExitCode(ctx, err), err)
		}
		if !quiet && !jsonOut {
			printRepair(e.stdout, rep)
		}
		if ctx.Err() != nil {
			break
		}
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
		return withCode(code, fmt.Errorf("%w: interrupted; the file is no worse than before, run the same command again to continue", firstErr))
	}
	if !quiet && !jsonOut {
		// Each file's outcome is printed above; say only how many failed.
		bad := 0
		for _, r := range res.Files {
			if r.State == "failed" {
				bad++
			}
		}
		msg := fmt.Sprintf("repair failed: %d of %d files not repaired", bad, len(res.Files))
		if len(res.Refused) > 0 {
			msg += fmt.Sprintf(", %d entries refused by the metalink check", len(res.Refused))
		}
		if bad == 0 && len(res.Refused) > 0 {
			msg = fmt.Sprintf("%v", firstErr)
		}
		return withCode(code, errors.New(msg))
	}
	return withCode(code, firstErr)
}

// repairSelect returns the files matching the globs (all when none).
func repairSelect(all []metalink.File, globs []string) ([]*metalink.File, error) {
	var out []*metalink.File
	for i := range all {
		f := &all[i]
		ok := len(globs) == 0
		for _, g := range globs {
			a, _ := path.Match(g, f.Name)
			b, _ := path.Match(g, path.Base(f.Name))
			ok = ok || a || b
		}
		if ok {
			out = append(out, f)
		}
	}
	if len(out) == 0 && len(globs) > 0 {
		return nil, fmt.Errorf("--select %q matches no file of the metalink", globs)
	}
	return out, nil
}

// repairExitCode maps a fetch.Repair error to the exit codes of mlink --help: 3 when
// the file could not be repaired or verified, 130 when interrupted, 1 otherwise
// (missing file, I/O error, lock held).
func repairExitCode(ctx context.Context, err error) int {
	if errors.Is(err, fetch.ErrNotRepairable) && ctx.Err() == nil {
		return exitVerify
	}
	if errors.Is(err, fs.ErrNotExist) && ctx.Err() == nil {
		return exitError
	}
	return getExitCode(ctx, err)
}

// printRepair prints one file's outcome: what was found and what was fetched.
func printRepair(w io.Writer, r *fetch.RepairReport) {
	check := "no whole-file hash"
	if r.Hash != "" {
		typ, _, _ := strings.Cut(r.Hash, ":")
		check = typ + " ok"
	}
	from := 0
	for _, m := range r.Mirrors {
		if m.Good > 0 {
			from++
		}
	}
	fetched := fmt.Sprintf("fetched %s from %d %s in %d %s", humanBytes(float64(r.Bytes)), from, plural(from, "mirror", "mirrors"),
		r.Requests, plural(r.Requests, "request", "requests"))
	if r.MultipartRequests > 0 {
		fetched += fmt.Sprintf(" (%d multi-range)", r.MultipartRequests)
	}
	switch r.State {
	case "good":
		fmt.Fprintf(w, "%s: good, nothing to repair (%s)\n", r.Path, check)
	case "repaired":
		if r.Repaired == 0 {
			fmt.Fprintf(w, "%s: repaired without fetching anything", r.Path)
		} else {
			fmt.Fprintf(w, "%s: repaired %d %s (%s bad), %s", r.Path, r.Repaired, plural(r.Repaired, "piece", "pieces"),
				humanBytes(float64(r.BadBytes)), fetched)
		}
		fmt.Fprintf(w, ", %s\n", check)
	default:
		fmt.Fprintf(w, "%s: NOT REPAIRED: %s\n", r.Path, r.Error)
		if n := len(r.BadPieces); n > 0 && r.Requests > 0 {
			fmt.Fprintf(w, "  %d of %d bad pieces repaired, %s\n", r.Repaired, n, fetched)
		}
	}
	if r.Missing > 0 {
		fmt.Fprintf(w, "  the file was %d bytes short (%d of %d)\n", r.Missing, r.FoundSize, r.Size)
	}
	if r.Truncated > 0 {
		fmt.Fprintf(w, "  cut off %d bytes beyond the metalink size\n", r.Truncated)
	}
	for _, m := range r.Mirrors {
		if m.BadPieces > 0 || m.State != fetch.MirrorActive && m.State != fetch.MirrorIdle {
			fmt.Fprintf(w, "  %s: %s, %d bad pieces, %d errors %s\n", m.URL, m.State, m.BadPieces, m.Errors, m.LastError)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
