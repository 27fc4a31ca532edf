package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, listed in `mlink --help`.
const (
	exitOK          = 0   // success
	exitError       = 1   // an error: unreadable input, I/O, a lock held, a refused upload
	exitUsage       = 2   // bad command line
	exitVerify      = 3   // verification failed: a hash did not match, no source had good data, or a document/entry was refused
	exitIncomplete  = 4   // stopped incomplete but resumable (rerun the same command)
	exitInterrupted = 130 // interrupted by SIGINT/SIGTERM; state saved
)

const exitCodesHelp = `Exit codes:
  0    success
  1    error (unreadable input, I/O error, a file locked by another run)
  2    usage error (unknown flag, missing argument)
  3    verification failed: a hash did not match, no mirror could supply a verified
       copy, or the metalink or one of its entries was refused
  4    incomplete but resumable: rerun the same command to continue
  130  interrupted (SIGINT/SIGTERM); progress is saved`

// exitError carries a specific exit code out of a command's RunE.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// withCode wraps err so that run exits with code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: code, err: err}
}

// usageError marks a command-line mistake (exit 2).
func usageError(format string, a ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// env is what every subcommand gets: the streams and the context.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// commandFactories is filled by each subcommand file's init function, so that
// subcommands live in files of their own.
var commandFactories []func(*env) *cobra.Command

func register(f func(*env) *cobra.Command) { commandFactories = append(commandFactories, f) }

// version is the module version, set from build info.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "mlink",
		Short: "Publish and download files through Metalink",
		Long: `mlink publishes files as Metalink documents (size, hashes, piece hashes, mirrors)
and downloads them from many mirrors at once, verifying every piece as it lands.

Start with "mlink demo": it publishes a file to three local mirrors (one slow, one
corrupting) and downloads it from all of them, with no network.

` + exitCodesHelp,
		Example: `  mlink demo
  mlink publish -o app.meta4 --mirror https://eu.example.org/pub/ --mirror https://us.example.org/pub/ dist/app.tar.gz
  mlink mirrors check app.meta4
  mlink get https://example.org/pub/app.meta4 -d downloads
  mlink verify app.meta4 downloads/app.tar.gz`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &codeError{code: exitUsage, err: err}
	})
	for _, f := range commandFactories {
		root.AddCommand(f(e))
	}
	// cobra's completion command prints help and exits 0 for an unknown shell;
	// make that a usage error that names the shells it knows.
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  mlink help get\n  mlink help mirrors check"
		case "completion":
			for _, sh := range c.Commands() {
				sh.Example = completionExamples[sh.Name()]
			}
			c.Example = "  source <(mlink completion bash)\n  mlink completion fish > ~/.config/fish/completions/mlink.fish"
			c.RunE = func(c *cobra.Command, args []string) error {
				if len(args) == 0 {
					return usageError("completion needs a shell: bash, zsh, fish or powershell")
				}
				return usageError("unknown shell %q: use bash, zsh, fish or powershell", args[0])
			}
		}
	}
	return root
}

// completionExamples are the Examples of the completion subcommands cobra generates.
var completionExamples = map[string]string{
	"bash":       "  source <(mlink completion bash)\n  mlink completion bash > /etc/bash_completion.d/mlink",
	"zsh":        "  mlink completion zsh > \"${fpath[1]}/_mlink\"",
	"fish":       "  mlink completion fish > ~/.config/fish/completions/mlink.fish",
	"powershell": "  mlink completion powershell | Out-String | Invoke-Expression",
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "mlink:", err)
	var ce *codeError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case isUsage(err):
		return exitUsage
	}
	return exitError
}

// isUsage recognises cobra's own argument errors.
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
