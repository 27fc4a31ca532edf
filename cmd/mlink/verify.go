package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/verify"
	"github.com/spf13/cobra"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "verify METALINK [PATH]",
		Short: "Check local files against a metalink: size, whole-file hashes and every piece",
		Long: `Check local files against a metalink: the size, every supported whole-file hash, and
every piece of the strongest piece-hash set, reporting exactly which byte ranges are bad
(those are what 'mlink repair' refetches).

For a single-file metalink PATH is the file, or a directory holding it (default: the
file's name in the current directory). For a multi-file metalink PATH is the directory holding the files (default
"."); names from the metalink are opened inside it and cannot escape it through "..",
absolute paths or symlinks.

Exit status: 0 when every file is good; 3 when a file is bad, missing, cannot be verified
(no supported hash) or the metalink refused an entry; 1 on an I/O error (unreadable
file, not a regular file) or an unreadable metalink.`,
		Example: `  mlink verify ubuntu.iso.meta4                 # checks ./ubuntu-24.04.iso (the name in the metalink)
  mlink verify ubuntu.iso.meta4 ~/Downloads/u.iso
  mlink verify release.meta4 dist/ --json       # multi-file: every file under dist/`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 2 {
				path = args[1]
			}
			return runVerify(e, args[0], path, jsonOut)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON on standard output")
	return cmd
}

// verifyFileReport is one file's line in the report (and in --json).
type verifyFileReport struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Status is good, bad, missing, unverifiable (no supported hash) or error (I/O).
	Status string         `json:"status"`
	Error  string         `json:"error,omitempty"`
	Result *verify.Result `json:"result,omitempty"`
}

type verifyReport struct {
	Metalink string             `json:"metalink"`
	Good     bool               `json:"good"`
	Files    []verifyFileReport `json:"files"`
	Refused  []string           `json:"refused,omitempty"`
	Warnings []string           `json:"warnings,omitempty"`
}

func runVerify(e *env, src, path string, jsonOut bool) error {
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	m, err := loadMetalink(ctx, src)
	if err != nil {
		return withCode(sourceError(ctx, src, err))
	}
	rep := verifyReport{Metalink: redactSource(src), Good: true, Warnings: m.Warnings}
	code := exitOK
	for _, fe := range m.Refused {
		rep.Refused = append(rep.Refused, fe.Error())
		code = exitVerify
	}

	// Where the files are: a root directory that metalink names are opened in, or, for a
	// single file named by the user, that path itself.
	var root *os.Root
	dir := "."
	single := len(m.Files) == 1 && len(m.Refused) == 0
	if path != "" && single {
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			single = false // a directory holding the file
		}
	}
	if path != "" && !single {
		dir = path
	}
	if path == "" || !single {
		root, err = os.OpenRoot(dir)
		if err != nil {
			return withCode(exitError, fmt.Errorf("open directory: %w", err))
		}
		defer root.Close()
	}

	var ioErr error
	for i := range m.Files {
		f := &m.Files[i]
		fr := verifyFileReport{Name: f.Name, Path: path}
		if root != nil {
			fr.Path = joinDisplay(dir, f.Name)
		}
		var prog *verifyProgress
		if isTerminal(e.stderr) {
			prog = &verifyProgress{w: e.stderr, name: fr.Path, total: f.Size}
		}
		res, err := verifyOne(ctx, root, path, f, prog)
		prog.end()
		switch {
		case err == nil:
			fr.Result = res
			fr.Status = "bad"
			if res.Good {
				fr.Status = "good"
			}
		case errors.Is(err, fs.ErrNotExist):
			fr.Status = "missing"
		case errors.Is(err, verify.ErrNoHash) || errors.Is(err, verify.ErrBadPieces):
			fr.Status, fr.Error = "unverifiable", err.Error()
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			fr.Status, fr.Error = "error", err.Error()
			if ioErr == nil {
				ioErr = err
			}
		}
		if fr.Status != "good" {
			rep.Good = false
			if code == exitOK {
				code = exitVerify
			}
		}
		rep.Files = append(rep.Files, fr)
	}
	if ioErr != nil {
		code = exitError
	}
	if len(rep.Refused) > 0 {
		rep.Good = false
	}

	if jsonOut {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		printVerify(e.stdout, &rep)
	}
	switch code {
	case exitOK:
		return nil
	case exitError:
		return withCode(code, ioErr)
	}
	bad := 0
	for _, fr := range rep.Files {
		if fr.Status != "good" {
			bad++
		}
	}
	msg := fmt.Sprintf("verification failed: %d of %d files not good", bad, len(rep.Files))
	if len(rep.Refused) > 0 {
		msg += fmt.Sprintf(", %d entries refused by the metalink check", len(rep.Refused))
	}
	return withCode(code, errors.New(msg))
}

// verifyOne opens and judges one file: through root when the name comes from the
// metalink, or at path when the user named the file.
func verifyOne(ctx context.Context, root *os.Root, path string, f *metalink.File, prog *verifyProgress) (*verify.Result, error) {
	var fh *os.File
	var err error
	if root != nil {
		fh, err = root.Open(f.Name)
	} else {
		fh, err = os.Open(path)
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", fh.Name(), fi.Mode().Type())
	}
	var opts verify.Options
	if prog != nil {
		if prog.total < 0 {
			prog.total = fi.Size()
		}
		opts.Progress = prog.add
	}
	res, err := verify.File(ctx, fh, fi.Size(), f, opts)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func joinDisplay(dir, name string) string {
	if dir == "." {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// maxRangesShown caps the bad ranges printed per file (--json lists them all).
const maxRangesShown = 20

func printVerify(w io.Writer, rep *verifyReport) {
	for _, r := range rep.Refused {
		fmt.Fprintf(w, "refused: %s\n", r)
	}
	for _, fr := range rep.Files {
		switch fr.Status {
		case "missing":
			fmt.Fprintf(w, "%s: MISSING\n", fr.Path)
			continue
		case "unverifiable":
			fmt.Fprintf(w, "%s: CANNOT VERIFY: %s\n", fr.Path, fr.Error)
			continue
		case "error":
			fmt.Fprintf(w, "%s: ERROR: %s\n", fr.Path, fr.Error)
			continue
		}
		r := fr.Result
		var checks []string
		for _, h := range r.Hashes {
			s := h.Type + " ok"
			if !h.Match {
				s = h.Type + " MISMATCH"
				if h.Got == "" {
					s = h.Type + " not computed (file short)"
				}
			}
			checks = append(checks, s)
		}
		if r.PieceType != "" {
			checks = append(checks, fmt.Sprintf("%d %s pieces of %s, %d bad", r.PieceCount, r.PieceType, humanBytes(float64(r.PieceLength)), len(r.BadPieces)))
		}
		if fr.Status == "good" {
			fmt.Fprintf(w, "%s: good (%d bytes; %s)\n", fr.Path, r.Size, strings.Join(checks, ", "))
		} else {
			var what []string
			if r.Missing > 0 {
				what = append(what, fmt.Sprintf("%d bytes short (%d of %d)", r.Missing, r.Size, r.WantSize))
			}
			if r.Extra > 0 {
				what = append(what, fmt.Sprintf("%d bytes too long (%d, want %d)", r.Extra, r.Size, r.WantSize))
			}
			if n := r.BadBytes(); n > 0 {
				what = append(what, fmt.Sprintf("%s bad in %d ranges", humanBytes(float64(n)), len(r.BadRanges)))
			}
			what = append(what, checks...)
			fmt.Fprintf(w, "%s: BAD: %s\n", fr.Path, strings.Join(what, "; "))
			for i, br := range r.BadRanges {
				if i == maxRangesShown {
					fmt.Fprintf(w, "  ... %d more ranges (see --json)\n", len(r.BadRanges)-i)
					break
				}
				fmt.Fprintf(w, "  bad bytes %d-%d (%s)%s\n", br.Off, br.End-1, humanBytes(float64(br.Len())), pieceSpan(r, br))
			}
		}
		if weakOnly(r) {
			fmt.Fprintf(w, "  warning: only weak hashes (md5/sha-1) were available\n")
		}
		if len(r.Unsupported) > 0 {
			fmt.Fprintf(w, "  note: not checked (unsupported): %s\n", strings.Join(r.Unsupported, ", "))
		}
	}
}

// pieceSpan names the pieces a bad range covers.
func pieceSpan(r *verify.Result, br verify.Range) string {
	if r.PieceLength <= 0 || r.PieceType == "" {
		return ""
	}
	first, last := br.Off/r.PieceLength, (br.End-1)/r.PieceLength
	if first == last {
		return fmt.Sprintf(", piece %d", first)
	}
	return fmt.Sprintf(", pieces %d-%d", first, last)
}

func weakOnly(r *verify.Result) bool {
	if r.PieceType != "" && !metalink.IsWeakHash(r.PieceType) {
		return false
	}
	for _, h := range r.Hashes {
		if !h.Weak {
			return false
		}
	}
	return true
}

// verifyProgress draws one self-erasing status line on a terminal while a file is hashed.
// verify.File calls add from one goroutine at a time.
type verifyProgress struct {
	w       io.Writer
	name    string
	total   int64
	done    int64
	start   time.Time
	last    time.Time
	printed bool
}

func (p *verifyProgress) add(n int64) {
	now := time.Now()
	if p.start.IsZero() {
		p.start, p.last = now, now
	}
	p.done += n
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	rate := float64(p.done) / max(now.Sub(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r\x1b[Kverifying %s: %3.0f%%  %s/s", p.name, pct, humanBytes(rate))
	p.printed = true
}

// end erases the status line; it is safe on a nil receiver.
func (p *verifyProgress) end() {
	if p != nil && p.printed {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
