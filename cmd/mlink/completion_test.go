package main

import (
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_mlink", "zsh": "#compdef mlink", "fish": "complete -c mlink"} {
		out, stderr, code := runCLI(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, marker) {
			t.Errorf("mlink completion %s: exit %d, output lacks %q (stderr %q)", shell, code, marker, stderr)
		}
	}
	if _, _, code := runCLI(t, "completion", "tcsh"); code != exitUsage {
		t.Errorf("mlink completion tcsh exited %d, want %d", code, exitUsage)
	}
}
