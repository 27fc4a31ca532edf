package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs mlink in-process with args and returns its stdout, stderr and exit code.
// Tests of every subcommand share it.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIContext(t, context.Background(), "", args...)
}

// runCLIContext is runCLI with a context and standard input.
func runCLIContext(t *testing.T, ctx context.Context, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestRootHelpListsExitCodes(t *testing.T) {
	out, _, code := runCLI(t, "--help")
	if code != exitOK {
		t.Fatalf("mlink --help exited %d, want 0", code)
	}
	for _, want := range []string{"Exit codes:", "130", "incomplete but resumable"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"no-such-command"}, {"version", "--no-such-flag"}, {"version", "extra-arg"}} {
		_, stderr, code := runCLI(t, args...)
		if code != exitUsage {
			t.Errorf("mlink %v exited %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "mlink ") {
		t.Fatalf("mlink version = %q, code %d", out, code)
	}
}
