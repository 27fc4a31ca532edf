package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/publish"
	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

func init() { register(newPushCmd) }

// pushFlags are the raw command-line values of mlink push.
type pushFlags struct {
	tokenFile, chunkSize, meta4 string
	retries                     int
	jsonOut, force, readBack    bool
	quiet                       bool
}

// pushTokenEnv names the environment variable read when --token-file is not given.
const pushTokenEnv = "MLINK_UPLOAD_TOKEN"

func newPushCmd(e *env) *cobra.Command {
	var fl pushFlags
	c := &cobra.Command{
		Use:   "push FILE... URL",
		Short: "Upload files to a mirror, resumably",
		Long: `Push uploads files to a server that accepts resumable uploads (mlink serve with
--upload-token-file, or any server speaking the same protocol): PUT requests carrying
"Content-Range: bytes A-B/TOTAL", answered "308 Resume Incomplete" with the range received
so far, and a status query ("Content-Range: bytes */TOTAL", empty body) after an interruption.

A URL ending in "/" is a directory: each FILE keeps its base name there. Otherwise the URL
names the uploaded file, and only one FILE may be given.

After any failure push asks the server how much it has and continues from there (never from
its own count, so a server that lost data gets it again); failures are retried with
growing, jittered pauses. A push that is interrupted or runs out of retries exits 4: run
the same command again and it resumes where the server stands. The file's sha-256 is sent
with the last chunk, and the server publishes the file only if what it received matches;
push then checks the server's copy (its Repr-Digest, else a HEAD, else reading ranges back).
Redirects are never followed.

Exit status: 1 when the server refuses (wrong token, too large, a different file already
there), 3 when the server's copy does not match the local file (nothing is published),
4 when retries ran out (run the command again to resume), 130 when interrupted.

The bearer token is read from --token-file, or else from $` + pushTokenEnv + `; it is never
printed.

` + exitCodesHelp,
		Example: `  mlink push --token-file ~/.config/mlink/token dist/app-1.0.tar.gz https://mirror.example.org/pub/
  mlink push --token-file token --chunk-size 32MiB big.iso https://mirror.example.org/pub/isos/big-2024.iso
  mlink push --json --publish-meta4 app.meta4 --token-file token dist/app.tar.gz dist/app.tar.gz.asc https://m.example.org/pub/`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError("push needs the files and then the URL to upload them to: mlink push FILE... URL")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error { return runPush(e, args, &fl) },
	}
	f := c.Flags()
	f.StringVar(&fl.tokenFile, "token-file", "", "read the upload bearer token from `FILE` (default: $"+pushTokenEnv+")")
	f.StringVar(&fl.chunkSize, "chunk-size", "8MiB", "bytes per PUT request: `SIZE` in bytes or with a binary unit (512KiB, 8MiB, 1GiB)")
	f.IntVar(&fl.retries, "retries", publish.DefaultPushRetries, "consecutive failed attempts without progress before giving up (0: none)")
	f.BoolVar(&fl.jsonOut, "json", false, "print a JSON summary on standard output")
	f.BoolVarP(&fl.quiet, "quiet", "q", false, "print nothing but errors (no progress, warnings or per-file lines)")
	f.StringVar(&fl.meta4, "publish-meta4", "", "write a Metalink for the pushed files, with the pushed URLs as mirrors, to `FILE`")
	f.BoolVar(&fl.force, "force", false, "replace an existing --publish-meta4 file")
	f.BoolVar(&fl.readBack, "read-back", false, "also check the server's copy with a HEAD and ranged reads after its digest")
	return c
}

// pushSummary is the --json output.
type pushSummary struct {
	Pushed []*publish.PushResult `json:"pushed"`
	Failed []pushFailure         `json:"failed"`
	Meta4  string                `json:"meta4,omitempty"`
}

type pushFailure struct {
	File  string `json:"file"`
	URL   string `json:"url"`
	Error string `json:"error"`
	// Status is the last HTTP status; Offset the bytes the server has.
	Status int   `json:"status,omitempty"`
	Offset int64 `json:"offset"`
	Exit   int   `json:"exit_code"`
}

func runPush(e *env, args []string, fl *pushFlags) error {
	files, target := args[:len(args)-1], args[len(args)-1]
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return pushTargetMistake(target)
	}
	isDir := strings.HasSuffix(u.Path, "/")
	if !isDir && len(files) > 1 {
		return usageError("pushing %d files needs a directory URL ending in \"/\"", len(files))
	}
	chunk, err := pushParseSize(fl.chunkSize)
	if err != nil {
		return usageError("--chunk-size %v", err)
	}
	token, err := pushToken(fl.tokenFile)
	if err != nil {
		return err
	}
	if fl.meta4 != "" && !fl.force {
		if _, err := os.Lstat(fl.meta4); err == nil {
			return fmt.Errorf("--publish-meta4 %s already exists (use --force to replace it)", fl.meta4)
		}
	}
	if u.Scheme == "http" && token != "" && !pushLoopback(u.Hostname()) {
		if !fl.quiet {
			fmt.Fprintf(e.stderr, "mlink: warning: sending the upload token over plain http to %s\n", u.Host)
		}
	}
	retries := fl.retries
	if retries == 0 {
		retries = -1 // PushOptions: negative means none
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        64 << 10,
	}}
	defer client.CloseIdleConnections()

	// With --publish-meta4 the files are hashed first (sizes, hashes, pieces),
	// and the pushes reuse their sha-256 instead of hashing again.
	var doc *metalink.Metalink
	known := map[string]string{}
	if fl.meta4 != "" {
		if doc, err = pushGenerate(e, files, fl.meta4); err != nil {
			return err
		}
		for i := range doc.Files {
			if h, ok := pushFileSHA256(&doc.Files[i]); ok {
				known[doc.Files[i].Name] = h
			}
		}
	}

	tty := pushIsTerminal(e.stderr)
	var prog *mpb.Progress
	if tty && !fl.jsonOut && !fl.quiet {
		prog = mpb.NewWithContext(e.ctx, mpb.WithOutput(e.stderr), mpb.WithWidth(60), mpb.WithRefreshRate(150*time.Millisecond))
	}
	sum := &pushSummary{Pushed: []*publish.PushResult{}, Failed: []pushFailure{}}
	worst := exitOK
	pushedURL := map[string]string{}
	for _, file := range files {
		dest := target
		if isDir {
			dest = u.JoinPath(filepath.Base(file)).String()
		}
		opts := publish.PushOptions{Token: token, ChunkSize: chunk, Retries: retries, ReadBack: fl.readBack,
			SHA256: known[filepath.Base(file)]}
		var bar *mpb.Bar
		if prog != nil {
			if fi, err := os.Stat(file); err == nil {
				bar = prog.AddBar(max(fi.Size(), 1),
					mpb.PrependDecorators(decor.Name(pushShorten(filepath.Base(file), 24)+" "), decor.CountersKibiByte("% .1f / % .1f")),
					mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
				bar.SetCurrent(0)
				opts.Progress = func(p publish.PushProgress) { bar.SetCurrent(p.Offset) }
			}
		}
		res, err := publish.Push(e.ctx, client, file, dest, opts)
		if bar != nil {
			if err == nil {
				bar.SetTotal(-1, true)
			} else {
				bar.Abort(false)
			}
		}
		if err != nil {
			if errors.Is(err, publish.ErrPushAuth) {
				err = pushAuthHint(err, token, fl.tokenFile)
			}
			code := pushExitCode(e, err)
			worst = pushWorse(worst, code)
			fail := pushFailure{File: file, URL: pushRedact(dest), Error: err.Error(), Exit: code}
			var pe *publish.PushError
			if errors.As(err, &pe) {
				fail.Status, fail.Offset = pe.Status, pe.Offset
			}
			sum.Failed = append(sum.Failed, fail)
			if !fl.jsonOut {
				fmt.Fprintf(e.stderr, "mlink: %v\n", err)
			}
			if code == exitInterrupted {
				break
			}
			continue
		}
		sum.Pushed = append(sum.Pushed, res)
		pushedURL[file] = dest
		if !fl.jsonOut && !fl.quiet {
			how := "uploaded"
			switch {
			case res.AlreadyPresent:
				how = "already on the server"
			case res.ResumedFrom > 0:
				how = "resumed at " + pushHuman(res.ResumedFrom)
			}
			verified := res.Verified
			if verified == "" {
				verified = "not checkable (the server sent no digest and no ranges)"
			}
			fmt.Fprintf(e.stdout, "%s -> %s: %s, %s (%s), sha-256 %s, verified by %s\n",
				file, res.URL, pushHuman(res.Size), how, pushRate(res), res.SHA256, verified)
		}
	}
	if prog != nil {
		prog.Wait()
	}
	if fl.meta4 != "" && len(sum.Pushed) > 0 && worst != exitInterrupted {
		if err := pushWriteMeta4(fl.meta4, fl.force, doc, sum.Pushed, pushedURL); err != nil {
			sum.Failed = append(sum.Failed, pushFailure{File: fl.meta4, Error: err.Error(), Exit: exitError})
			worst = pushWorse(worst, exitError)
			if !fl.jsonOut {
				fmt.Fprintf(e.stderr, "mlink: %v\n", err)
			}
		} else {
			sum.Meta4 = fl.meta4
		}
	}
	if fl.jsonOut {
		if err := writeJSON(e.stdout, sum); err != nil {
			return err
		}
	}
	if worst != exitOK {
		return withCode(worst, fmt.Errorf("push: %d file(s) pushed, %d failure(s)", len(sum.Pushed), len(sum.Failed)))
	}
	return nil
}

// pushTargetMistake explains why the last argument is not an upload URL: another
// scheme, a host name written without its scheme, or a local path (the URL was
// forgotten, so the last file was taken for it).
func pushTargetMistake(target string) error {
	red := pushRedact(target)
	if m := mistakeSchemeRE.FindString(target); m != "" {
		scheme := strings.ToLower(strings.TrimSuffix(m, "://"))
		if scheme != "http" && scheme != "https" {
			return usageError("%s: unsupported scheme %q: mlink pushes to http:// and https:// URLs only", red, scheme)
		}
		return usageError("the last argument must be the URL to upload to, with a host: got %q", red)
	}
	if _, err := os.Stat(target); err == nil {
		return usageError("the last argument must be the URL to upload to, but %s is a local file: mlink push FILE... URL", target)
	}
	if mistakeLooksLikeHost(target) {
		return usageError("the last argument must be the URL to upload to; give it with its scheme: https://%s", red)
	}
	return usageError("the last argument must be the http(s) URL to upload to, got %q", red)
}

// pushAuthHint says what to do when the server refused the upload token: none was
// sent (no --token-file, $MLINK_UPLOAD_TOKEN unset), or the one sent is not the
// server's.
func pushAuthHint(err error, token, file string) error {
	switch {
	case token == "":
		return fmt.Errorf("%w; no token was sent: give --token-file FILE (the file the server was started with, mlink serve --upload-token-file) or set $%s", err, pushTokenEnv)
	case file != "":
		return fmt.Errorf("%w; the token in %s is not the one the server accepts (mlink serve --upload-token-file)", err, file)
	}
	return fmt.Errorf("%w; the token in $%s is not the one the server accepts (mlink serve --upload-token-file)", err, pushTokenEnv)
}

// pushExitCode maps a Push error to the documented exit codes.
func pushExitCode(e *env, err error) int {
	switch {
	case e.ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, publish.ErrPushMismatch):
		return exitVerify
	case errors.Is(err, publish.ErrPushIncomplete):
		return exitIncomplete
	}
	return exitError
}

// pushWorse orders exit codes: interrupted > verify > incomplete > error > ok.
func pushWorse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitError: 1, exitIncomplete: 2, exitVerify: 3, exitInterrupted: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// pushToken reads the bearer token from file, or from $MLINK_UPLOAD_TOKEN.
func pushToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(pushTokenEnv)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--token-file %s is empty", file)
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("--token-file %s holds more than one line", file)
	}
	return tok, nil
}

// pushParseSize parses a chunk size: bytes, or with a K/M/G binary unit.
func pushParseSize(s string) (int64, error) {
	const lo, hi = 4 << 10, 4 << 30
	n, ok := parseByteSize(s, false)
	if !ok || n < lo || n > hi {
		return 0, fmt.Errorf("%q: want a size from 4KiB to 4GiB (e.g. 512KiB, 8MiB)", s)
	}
	return n, nil
}

// pushGenerate builds the metalink of files (mlink publish's defaults: sha-256,
// sha-256 pieces of the automatic length) before they are pushed.
func pushGenerate(e *env, files []string, out string) (*metalink.Metalink, error) {
	gen, err := publish.Generate(e.ctx, files, publish.Options{Generator: "mlink/" + version(), Exclude: []string{out}})
	if err != nil {
		return nil, fmt.Errorf("--publish-meta4: %w", err)
	}
	if len(gen.Documents) != 1 {
		return nil, fmt.Errorf("--publish-meta4: expected one document, got %d", len(gen.Documents))
	}
	return gen.Documents[0].Metalink, nil
}

// pushWriteMeta4 writes m, reduced to the files that were pushed, each with
// the URL it was pushed to as its only mirror, through a temporary file and
// a rename. A file that failed to push is left out (SECURITY.md B5 case 81).
func pushWriteMeta4(out string, force bool, m *metalink.Metalink, pushed []*publish.PushResult, urls map[string]string) error {
	byBase := map[string]*publish.PushResult{}
	for _, r := range pushed {
		byBase[filepath.Base(r.File)] = r
	}
	var kept []metalink.File
	for _, f := range m.Files {
		r := byBase[f.Name]
		if r == nil {
			continue
		}
		if h, ok := pushFileSHA256(&f); ok && h != r.SHA256 {
			return fmt.Errorf("--publish-meta4: %s changed while it was pushed (sha-256 %s, pushed %s)", r.File, h, r.SHA256)
		}
		dest := urls[r.File]
		// The name downloaders save under is the pushed name.
		if du, err := url.Parse(dest); err == nil {
			if name, err := url.PathUnescape(path.Base(du.EscapedPath())); err == nil && metalink.CheckName(name) == nil {
				f.Name = name
			}
		}
		f.URLs = []metalink.URL{{URL: dest, Priority: 1}}
		kept = append(kept, f)
	}
	m.Files = kept
	var buf bytes.Buffer
	if err := metalink.Encode(&buf, m, metalink.FormatV4); err != nil {
		return fmt.Errorf("--publish-meta4: %w", err)
	}
	return writeFileAtomic(out, buf.Bytes(), force)
}

func pushFileSHA256(f *metalink.File) (string, bool) {
	for _, h := range f.Hashes {
		if h.Type == "sha-256" {
			return h.Value, true
		}
	}
	return "", false
}

func pushIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func pushLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func pushRedact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

func pushShorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func pushHuman(n int64) string {
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

func pushRate(r *publish.PushResult) string {
	s := r.Duration.Seconds()
	if s <= 0 || r.BytesSent == 0 {
		return fmt.Sprintf("%d bytes sent", r.BytesSent)
	}
	return fmt.Sprintf("%s sent at %s/s", pushHuman(r.BytesSent), pushHuman(int64(float64(r.BytesSent)/s)))
}
