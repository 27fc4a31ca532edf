package main

import (
	"strings"
	"testing"
)

func TestDemoDownloadsThroughACorruptingMirror(t *testing.T) {
	out, stderr, code := runCLI(t, "demo", "--size", "4")
	if code != exitOK {
		t.Fatalf("mlink demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, want := range []string{"mirror 3 (corrupts", "byte-identical", "sha-256 matched"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := runCLI(t, "demo", "--size", "0"); code != exitUsage {
		t.Errorf("demo --size 0 exited %d, want %d", code, exitUsage)
	}
}
