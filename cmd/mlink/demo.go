package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

// newDemoCmd is the self-contained showcase: it runs the real publish and get
// commands in-process against three loopback mirrors (healthy, throttled,
// corrupting) and explains what happened. It needs no network and removes
// everything it created.
func newDemoCmd(e *env) *cobra.Command {
	var size int64
	var keep bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Publish an artifact to three local mirrors and download it from all of them",
		Long: `demo creates a random artifact in a temporary directory, starts three mirrors on
127.0.0.1 (one healthy, one throttled, one that corrupts about a third of the pieces),
publishes the artifact's .meta4 with mlink publish, downloads it with mlink get (live
progress on a terminal), and explains which mirror served what and which pieces were
refetched. Everything it created is removed at the end.`,
		Example: "  mlink demo\n  mlink demo --size 256",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if size <= 0 || size > 4096 {
				return usageError("--size must be between 1 and 4096 (MiB), got %d", size)
			}
			return runDemo(e, size<<20, keep)
		},
	}
	c.Flags().Int64Var(&size, "size", 64, "artifact size in `MiB`")
	c.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory (its path is printed)")
	return c
}

func runDemo(e *env, size int64, keep bool) error {
	tmp, err := os.MkdirTemp("", "mlink-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(e.stdout, "keeping %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	content := make([]byte, size)
	if _, err := rand.Read(content); err != nil {
		return err
	}
	src := filepath.Join(tmp, "src")
	dst := filepath.Join(tmp, "downloads")
	for _, d := range []string{src, dst} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	const name = "artifact.bin"
	if err := os.WriteFile(filepath.Join(src, name), content, 0o644); err != nil {
		return err
	}
	const pieceLen = 1 << 20
	kinds := []struct {
		label string
		opts  []mirrortest.Option
	}{
		{"healthy", nil},
		{"throttled to 8 MB/s", []mirrortest.Option{mirrortest.Throttle(8e6)}},
		{"corrupts ~30% of pieces", []mirrortest.Option{mirrortest.CorruptFraction(pieceLen, 0.3, 7)}},
	}
	mirrors := make([]*mirrortest.Mirror, len(kinds))
	args := []string{"publish", filepath.Join(src, name), "--no-cache", "--piece-size", "1MiB",
		"-o", filepath.Join(tmp, name+".meta4")}
	for i, k := range kinds {
		opts := append([]mirrortest.Option{mirrortest.Path("/pub/" + name)}, k.opts...)
		mirrors[i] = mirrortest.New(content, opts...)
		defer mirrors[i].Close()
		base := strings.TrimSuffix(mirrors[i].URL(), name)
		// Equal priorities: the scheduler, not the document, decides who serves what.
		args = append(args, "--mirror", base+",priority=1")
		fmt.Fprintf(e.stdout, "mirror %d  %-24s %s\n", i+1, k.label, mirrors[i].URL())
	}
	fmt.Fprintf(e.stdout, "\n$ mlink publish %s (%d MiB, sha-256 + 1 MiB sha-256 pieces)\n", name, size>>20)
	if code := runSub(e, args); code != exitOK {
		return withCode(code, fmt.Errorf("demo: publish failed"))
	}
	fmt.Fprintf(e.stdout, "\n$ mlink get %s.meta4\n", name)
	code := runSub(e, []string{"get", filepath.Join(tmp, name+".meta4"), "-d", dst})
	if code != exitOK {
		return withCode(code, fmt.Errorf("demo: download failed"))
	}
	got, err := os.ReadFile(filepath.Join(dst, name))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nWhat happened:")
	for i, m := range mirrors {
		st := m.Stats()
		fmt.Fprintf(e.stdout, "  mirror %d (%s): %d requests, %.1f MiB served\n", i+1, kinds[i].label, st.Requests, float64(st.BytesServed)/(1<<20))
	}
	fmt.Fprintln(e.stdout, "  Every piece was hashed as it arrived: pieces from the corrupting mirror that failed")
	fmt.Fprintln(e.stdout, "  their sha-256 were refetched from another mirror and that mirror was quarantined;")
	fmt.Fprintln(e.stdout, "  the throttled mirror got only as much work as its measured speed justified.")
	if string(got) == string(content) {
		fmt.Fprintln(e.stdout, "  The downloaded file is byte-identical to the original and its sha-256 matched.")
	} else {
		return withCode(exitVerify, fmt.Errorf("demo: downloaded file differs from the original"))
	}
	return nil
}

// runSub runs another mlink subcommand in-process with the same streams.
func runSub(e *env, args []string) int {
	return run(e.ctx, args, e.stdin, e.stdout, e.stderr)
}
