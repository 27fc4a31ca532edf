package main

import (
	"bytes"
	"fmt"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/spf13/cobra"
)

func init() { register(newConvertCmd) }

func newConvertCmd(e *env) *cobra.Command {
	var to, output string
	var force bool
	c := &cobra.Command{
		Use:   "convert METALINK --to v4|v3|mirrormanager [-o FILE]",
		Short: "Convert a metalink between Metalink v4, v3 and the MirrorManager dialect",
		Long: `Convert decodes METALINK (a file, - for standard input, or an http(s) URL) and writes it again
in the format given by --to:

  v4             RFC 5854 (.meta4), strictly conformant to its schema
  v3             Metalink 3.0 (.metalink)
  mirrormanager  the Metalink 3.0 dialect of Fedora's MirrorManager, as dnf's
                 librepo reads it (mm0 prefix, url protocol/type/location/preference)

Fields the target format cannot carry are dropped (v4 has no url type,
maxconnections, licence or signature file name; v3 has no metaurl names).
The output goes to standard output, or with -o to FILE: written to a temporary
file in the same directory and renamed into place, so FILE is never left
half-written; an existing FILE is only replaced with --force.

Nothing is written when the document or any file entry in it is refused
(exit status 3): a conversion that silently lost files would look like success.`,
		Example: `  mlink convert ubuntu.metalink --to v4 -o ubuntu.meta4
  mlink convert release.meta4 --to mirrormanager > repomd.metalink
  mlink convert https://example.org/x.metalink --to v4 -o x.meta4
  curl -s https://example.org/x.metalink | mlink convert - --to v4`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f := metalink.Format(to)
			switch f {
			case metalink.FormatV4, metalink.FormatV3, metalink.FormatMirrorManager:
			case "":
				return usageError("--to is required: v4, v3 or mirrormanager")
			default:
				return usageError("--to %q: want v4, v3 or mirrormanager", to)
			}
			m, err := showLoad(e, args[0])
			if m != nil {
				for _, w := range m.Warnings {
					fmt.Fprintf(e.stderr, "mlink: warning: %s\n", showClean(w))
				}
				for _, r := range m.Refused {
					fmt.Fprintf(e.stderr, "mlink: refused: %s\n", showClean(r.Error()))
				}
			}
			if err != nil {
				return err
			}
			if n := len(m.Refused); n > 0 {
				return withCode(exitVerify, fmt.Errorf("%s: %d file entries refused; nothing converted", redactSource(args[0]), n))
			}
			var buf bytes.Buffer
			if err := metalink.Encode(&buf, m, f); err != nil {
				return withCode(exitError, err)
			}
			if output == "" || output == "-" {
				if _, err := e.stdout.Write(buf.Bytes()); err != nil {
					return withCode(exitError, err)
				}
				return nil
			}
			return writeFileAtomic(output, buf.Bytes(), force)
		},
	}
	c.Flags().StringVar(&to, "to", "", "target format: v4, v3 or mirrormanager (required)")
	c.Flags().StringVarP(&output, "output", "o", "", "write to `FILE` instead of standard output")
	c.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return c
}
