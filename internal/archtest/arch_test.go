package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mlinkdev/mlink"

type pkg struct {
	ImportPath string
	Deps       []string
}

// listDeps runs `go list -deps` over every package of the module (tests excluded)
// and returns each package's transitive dependencies.
func listDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		deps[p.ImportPath] = p.Deps
	}
	return deps
}

// isCommand reports whether a module-relative package path is a main package
// directory (cmd/... or .../cmd/...), the only place flags and terminal UI belong.
func isCommand(me string) bool { return strings.HasPrefix(me, "cmd/") || strings.Contains(me, "/cmd/") }

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

// forbidden returns the dependencies of pkg that a rule forbids, or nil.
func forbidden(pkg string, deps []string) []string {
	var bad []string
	me := rel(pkg)
	for _, d := range deps {
		if !strings.HasPrefix(d, module) {
			// Only cmd/mlink may use flag parsing and terminal UI libraries.
			if !isCommand(me) {
				switch {
				case d == "flag", strings.HasPrefix(d, "github.com/spf13/"), strings.HasPrefix(d, "github.com/vbauerster/mpb"):
					bad = append(bad, d)
				}
			}
			continue
		}
		dr := rel(d)
		switch {
		case strings.HasPrefix(dr, "cmd/"):
			bad = append(bad, d) // nothing imports a command
		case me == "metalink":
			bad = append(bad, d) // metalink imports nothing of this module
		case strings.HasPrefix(me, "internal/") && !strings.HasPrefix(dr, "internal/") && dr != "metalink":
			bad = append(bad, d) // internal packages sit below fetch, publish and verify
		case strings.HasPrefix(me, "fetch") && strings.HasPrefix(dr, "publish"),
			strings.HasPrefix(me, "publish") && strings.HasPrefix(dr, "fetch"):
			bad = append(bad, d) // fetch and publish never import each other
		case strings.HasPrefix(me, "verify") && (strings.HasPrefix(dr, "fetch") || strings.HasPrefix(dr, "publish")):
			bad = append(bad, d) // verify sits below fetch and publish
		case strings.HasPrefix(me, "internal/digest") && dr != "metalink" && !strings.HasPrefix(dr, "internal/digest"):
			bad = append(bad, d) // the hashing seam is a leaf
		}
	}
	return bad
}

func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH; cannot list dependencies")
	}
	deps := listDeps(t)
	if len(deps) < 3 {
		t.Fatalf("go list found only %d packages; expected the whole module", len(deps))
	}
	for p, d := range deps {
		if bad := forbidden(p, d); len(bad) > 0 {
			t.Errorf("%s imports %v, which ARCHITECTURE.md forbids", rel(p), bad)
		}
	}
}

// TestRulesCatchViolations makes sure the rule checker itself would fail on the
// imports it exists to forbid.
func TestRulesCatchViolations(t *testing.T) {
	cases := []struct {
		pkg, dep string
	}{
		{module + "/metalink", module + "/internal/digest"},
		{module + "/fetch", module + "/publish"},
		{module + "/publish", module + "/fetch"},
		{module + "/verify", module + "/fetch"},
		{module + "/internal/httphdr", module + "/fetch"},
		{module + "/fetch", module + "/cmd/mlink"},
		{module + "/fetch", "github.com/spf13/cobra"},
		{module + "/publish", "flag"},
	}
	for _, c := range cases {
		if bad := forbidden(c.pkg, []string{c.dep}); len(bad) != 1 {
			t.Errorf("%s importing %s: rule checker returned %v, want a violation", c.pkg, c.dep, bad)
		}
	}
	if bad := forbidden(module+"/fetch", []string{module + "/metalink", module + "/internal/digest", "net/http"}); len(bad) != 0 {
		t.Errorf("allowed imports reported as violations: %v", bad)
	}
}
