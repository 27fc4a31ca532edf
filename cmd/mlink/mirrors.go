package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/publish"
)

func init() { register(newMirrorsCmd) }

func newMirrorsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirrors",
		Short: "Operators' tools for the mirrors of a metalink",
		Long: `mirrors holds the tools for the people running a release's mirrors. "mirrors check"
fetches from every mirror of every file of a metalink and gives each a verdict (ok,
stale, corrupt, no-range, down); with --prune it writes the metalink without the
mirrors that failed.`,
		Example: `  mlink mirrors check release.meta4
  mlink mirrors check release.meta4 --prune -o release.pruned.meta4`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := "the command is: mlink mirrors check METALINK"
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = "did you mean " + s[0] + "? (mlink mirrors " + s[0] + " METALINK)"
			} else if strings.HasSuffix(args[0], ".meta4") || strings.HasSuffix(args[0], ".metalink") {
				hint = "to check the mirrors of " + args[0] + ": mlink mirrors check " + args[0]
			}
			return usageError("unknown command %q for \"mlink mirrors\"; %s", args[0], hint)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.AddCommand(newMirrorsCheckCmd(e))
	return cmd
}

type mirrorsCheckFlags struct {
	sample      int
	jsonOut     bool
	prune       bool
	output      string
	concurrency int
	perHost     int
	timeout     time.Duration
	seed        uint64
	caCert      string
}

func newMirrorsCheckCmd(e *env) *cobra.Command {
	var fl mirrorsCheckFlags
	cmd := &cobra.Command{
		Use:   "check METALINK",
		Short: "Check every mirror of a metalink: reachable, TLS, size, Range, sampled pieces",
		Long: `Check every http/https mirror of every file of a metalink (a local file or an
http(s) URL):

  - reachable, with a valid TLS certificate (https), without redirects to another
    scheme or from https to http;
  - the right size (the Content-Range total, or Content-Length of a 200);
  - Range honoured: a 206 with exactly the Content-Range asked for, identity encoding;
  - N randomly chosen pieces (--sample, default 3) fetched by Range match their piece
    hashes (a small file without piece hashes is fetched whole and checked against its
    strongest hash).

Each mirror gets a verdict:
  ok        everything above holds
  stale     another version of the file: another size, a Digest or Repr-Digest header
            with another hash, or every sampled piece differs
  corrupt   some sampled pieces differ, or the body is gzip-encoded
  no-range  Range not honoured (200, wrong or missing Content-Range, wrong length)
  down      unreachable, TLS error, timeout, redirect refused, or an HTTP error status
  skipped   not an http/https URL (not checked, not a failure)

At most --concurrency mirrors are checked at once and at most --per-host requests are
in flight to one host. Credentials in mirror URLs are never sent. Certificates are
verified against the system roots, plus those of --ca-cert.

--prune -o FILE writes the metalink without the failing mirrors (through a temporary
file and a rename, so FILE is never half-written); it refuses when a file would be
left without any mirror.

Exit status: 0 when every mirror is ok; 3 when a mirror serves wrong bytes (stale or
corrupt); 1 when a mirror is down or does not honour Range, or on an error; 2 on a
usage error. With --prune the exit status still reports the failures.`,
		Example: `  mlink mirrors check release.meta4
  mlink mirrors check https://example.org/f.iso.meta4 --sample 10
  mlink mirrors check release.meta4 --json > report.json
  mlink mirrors check release.meta4 --prune -o release.pruned.meta4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fl.prune && fl.output == "" {
				return usageError("--prune needs -o FILE (the pruned metalink's path)")
			}
			if !fl.prune && fl.output != "" {
				return usageError("-o is only used with --prune")
			}
			if fl.sample < 0 {
				return usageError("--sample must be 0 or more, not %d", fl.sample)
			}
			return runMirrorsCheck(e, args[0], fl)
		},
	}
	f := cmd.Flags()
	f.IntVar(&fl.sample, "sample", 3, "pieces fetched and verified per mirror (0: probe only)")
	f.BoolVar(&fl.jsonOut, "json", false, "print the report as JSON on standard output")
	f.BoolVar(&fl.prune, "prune", false, "write the metalink without the failing mirrors (needs -o)")
	f.StringVarP(&fl.output, "output", "o", "", "where --prune writes the pruned metalink")
	f.IntVar(&fl.concurrency, "concurrency", 8, "mirrors checked at once")
	f.IntVar(&fl.perHost, "per-host", 2, "requests in flight to one host at most")
	f.DurationVar(&fl.timeout, "timeout", 60*time.Second, "limit for each request")
	f.Uint64Var(&fl.seed, "seed", 0, "seed for choosing the sampled pieces (0: random)")
	f.StringVar(&fl.caCert, "ca-cert", "", "PEM file of extra CA certificates to trust (besides the system's)")
	return cmd
}

type mirrorsReport struct {
	Metalink string                `json:"metalink"`
	Failed   int                   `json:"failed"`
	Mirrors  []publish.MirrorCheck `json:"mirrors"`
	Refused  []string              `json:"refused,omitempty"`
	Pruned   string                `json:"pruned,omitempty"`
}

func runMirrorsCheck(e *env, src string, fl mirrorsCheckFlags) error {
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	client := publish.NewCheckClient()
	defer client.CloseIdleConnections()
	if fl.caCert != "" {
		pool, err := loadCAPool(fl.caCert)
		if err != nil {
			return withCode(exitError, err)
		}
		client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	if err := metalinkArgMistake(src); err != nil {
		return withCode(exitError, err)
	}
	m, err := loadMetalink(ctx, src)
	if err != nil {
		return withCode(sourceError(ctx, src, err))
	}
	samples := fl.sample
	if samples == 0 {
		samples = -1
	}
	rep, err := publish.CheckMirrors(ctx, m, publish.CheckOptions{Client: client, Samples: samples,
		Concurrency: fl.concurrency, PerHost: fl.perHost, Timeout: fl.timeout, Seed: fl.seed})
	if err != nil {
		return err
	}
	out := mirrorsReport{Metalink: redactSource(src), Failed: rep.Failed(), Mirrors: rep.Mirrors}
	for _, fe := range m.Refused {
		out.Refused = append(out.Refused, fe.Error())
		fmt.Fprintln(e.stderr, "mlink: warning: entry refused, not checked:", fe)
	}

	var pruneErr error
	if fl.prune {
		if pruneErr = writePruned(fl.output, rep.Prune(m), m.Format); pruneErr == nil {
			out.Pruned = fl.output
		}
	}
	if fl.jsonOut {
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		printMirrorsTable(e.stdout, rep)
		if out.Pruned != "" {
			fmt.Fprintf(e.stdout, "wrote %s without the %d failing mirror(s)\n", out.Pruned, out.Failed)
		}
	}
	if pruneErr != nil {
		return withCode(exitError, pruneErr)
	}
	if out.Failed == 0 {
		return nil
	}
	code := exitError
	for _, c := range rep.Mirrors {
		if c.Verdict == publish.VerdictStale || c.Verdict == publish.VerdictCorrupt {
			code = exitVerify
		}
	}
	return withCode(code, fmt.Errorf("%d of %d mirrors failed the check", out.Failed, len(rep.Mirrors)))
}

// loadCAPool returns the system roots plus the PEM certificates in path.
func loadCAPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("--ca-cert: no PEM certificate in %s", path)
	}
	return pool, nil
}

// printMirrorsTable prints one line per mirror and a summary.
func printMirrorsTable(w io.Writer, rep *publish.CheckReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tMIRROR\tVERDICT\tHTTP\tTLS\tLATENCY\tSPEED\tPIECES\tNOTE")
	counts := map[publish.Verdict]int{}
	for _, c := range rep.Mirrors {
		counts[c.Verdict]++
		status, tls, lat, speed, pieces := "-", "-", "-", "-", "-"
		if c.Status != 0 {
			status = fmt.Sprint(c.Status)
		}
		if c.TLS != "" {
			tls = c.TLS
		}
		if c.Latency > 0 {
			lat = c.Latency.Round(time.Millisecond).String()
			if c.Latency < time.Millisecond {
				lat = "<1ms"
			}
		}
		if c.Throughput > 0 {
			speed = humanBytes(c.Throughput) + "/s"
		}
		if len(c.Sampled) > 0 {
			pieces = fmt.Sprintf("%d/%d", len(c.Sampled)-len(c.Bad), len(c.Sampled))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.File, c.URL, c.Verdict, status, tls, lat, speed, pieces,
			oneLine(c.Reason))
	}
	tw.Flush()
	var parts []string
	for _, v := range []publish.Verdict{publish.VerdictOK, publish.VerdictStale, publish.VerdictCorrupt,
		publish.VerdictNoRange, publish.VerdictDown, publish.VerdictSkipped} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	fmt.Fprintf(w, "%d mirrors: %s\n", len(rep.Mirrors), strings.Join(parts, ", "))
}

// oneLine keeps a reason on one table line, at a readable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

// writePruned encodes m and writes it to path through a temporary file in the same
// directory, fsynced, then renamed over path. On error path is untouched.
func writePruned(path string, m *metalink.Metalink, f metalink.Format) (err error) {
	for _, file := range m.Files {
		if len(file.URLs) == 0 {
			return fmt.Errorf("--prune: every mirror of %q failed; not writing %s", file.Name, path)
		}
	}
	if f == "" {
		f = metalink.FormatV4
	}
	var buf bytes.Buffer
	if err := metalink.Encode(&buf, m, f); err != nil {
		return fmt.Errorf("--prune: encode: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes(), true)
}
