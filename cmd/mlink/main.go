// Command mlink publishes and downloads files through Metalink.
//
// Each subcommand lives in a file of its own and registers itself in init
// (root.go builds the cobra tree, with the exit codes of "mlink --help"). Every
// command has Long help and Examples; root_test.go parses every example line
// against the real command tree. The common first-run mistakes are turned into
// errors that say what to do in mistakes.go (a directory or a host name without
// scheme given as METALINK, another URL scheme, a misspelt hash name), shared by
// the commands. mlink get's live display (get_progress.go) draws mpb bars on a
// terminal and plain lines otherwise; tmux_test.go runs the real binary in tmux
// and checks the screen.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
