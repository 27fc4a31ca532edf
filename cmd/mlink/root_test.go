package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// helpTree builds the command tree as mlink runs it.
func helpTree() *cobra.Command {
	var out bytes.Buffer
	return newRoot(&env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &out})
}

// walkCommands calls f on c and every command below it.
func walkCommands(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, f)
	}
}

// TestEveryCommandHasExamplesAndLongHelp: a newcomer's "mlink X --help" always
// ends with examples and says more than the one-line summary.
func TestEveryCommandHasExamplesAndLongHelp(t *testing.T) {
	n := 0
	walkCommands(helpTree(), func(c *cobra.Command) {
		if c.Hidden || !c.Runnable() && c.HasParent() {
			return
		}
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		if strings.TrimSpace(c.Long) == "" {
			t.Errorf("%q has no Long help", c.CommandPath())
		}
	})
	if n < 12 {
		t.Errorf("walked only %d commands", n)
	}
	out, _, code := runCLI(t, "mirrors", "--help")
	if code != exitOK || !strings.Contains(out, "Examples:\n  mlink mirrors check") {
		t.Errorf("mlink mirrors --help: exit %d\n%s", code, out)
	}
}

// exampleCommands extracts the mlink command lines of an Example text as argument
// lists: continuation lines joined, comments dropped, quotes removed, pipes,
// process substitutions and redirections cut away, VAR=value prefixes skipped.
func exampleCommands(example string) [][]string {
	text := strings.ReplaceAll(example, "\\\n", " ")
	var cmds [][]string
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, " # "); i >= 0 {
			line = line[:i]
		}
		line = strings.NewReplacer("<(", " | ", "$(", " | ", ")", " | ", ";", " | ", "&&", " | ").Replace(line)
		for _, seg := range strings.Split(line, "|") {
			words := shellWords(seg)
			for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
				words = words[1:]
			}
			if len(words) == 0 || words[0] != "mlink" {
				continue
			}
			args := []string{}
			for _, w := range words[1:] {
				if strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "2>") {
					break
				}
				args = append(args, w)
			}
			cmds = append(cmds, args)
		}
	}
	return cmds
}

// shellWords splits s on blanks, honouring single and double quotes.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quote, started := byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, started = c, true
		case c == ' ' || c == '\t':
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if started {
		words = append(words, cur.String())
	}
	return words
}

// TestExamplesParse: every "mlink ..." line of every Example names a real command
// with flags it has and an argument count it accepts.
func TestExamplesParse(t *testing.T) {
	total := 0
	walkCommands(helpTree(), func(c *cobra.Command) {
		for _, args := range exampleCommands(c.Example) {
			total++
			root := helpTree() // fresh flags for every line
			cmd, rest, err := root.Find(args)
			if err != nil {
				t.Errorf("%s example %q: %v", c.CommandPath(), strings.Join(args, " "), err)
				continue
			}
			if len(args) > 0 && cmd == root {
				t.Errorf("%s example %q names no command", c.CommandPath(), strings.Join(args, " "))
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s example %q: %v", c.CommandPath(), strings.Join(args, " "), err)
				continue
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Errorf("%s example %q: %v", c.CommandPath(), strings.Join(args, " "), err)
			}
		}
	})
	if total < 30 {
		t.Errorf("found only %d example command lines", total)
	}
}

func TestExampleCommandsExtraction(t *testing.T) {
	got := exampleCommands("  source <(mlink completion bash)\n  curl -s https://x/y | mlink show -\n" +
		"  SOURCE_DATE_EPOCH=1 mlink publish -o 'a b.meta4' \\\n      --mirror u d/  # comment\n  mlink get x --json > r.json")
	want := [][]string{{"completion", "bash"}, {"show", "-"}, {"publish", "-o", "a b.meta4", "--mirror", "u", "d/"}, {"get", "x", "--json"}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "\x00") != strings.Join(want[i], "\x00") {
			t.Errorf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
}
