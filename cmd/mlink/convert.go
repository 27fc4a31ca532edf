package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
		Long: `Convert decodes METALINK (a file, or - for standard input) and writes it again
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
				return withCode(exitVerify, fmt.Errorf("%s: %d file entries refused; nothing converted", args[0], n))
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
			return convertWriteFile(output, buf.Bytes(), force)
		},
	}
	c.Flags().StringVar(&to, "to", "", "target format: v4, v3 or mirrormanager (required)")
	c.Flags().StringVarP(&output, "output", "o", "", "write to `FILE` instead of standard output")
	c.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return c
}

// convertWriteFile writes data to a temporary file next to path, syncs it and
// moves it into place: with force by rename (replacing path), without by a hard
// link that fails if path exists. The temporary file never outlives the call.
func convertWriteFile(path string, data []byte, force bool) error {
	fail := func(err error) error { return withCode(exitError, fmt.Errorf("writing %s: %w", path, err)) }
	exists := func() error {
		return withCode(exitError, fmt.Errorf("%s already exists; use --force to replace it", path))
	}
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return exists()
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fail(err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link or on failure; a no-op after a rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if force {
		if err := os.Rename(tmpName, path); err != nil {
			return fail(err)
		}
		return nil
	}
	switch err := os.Link(tmpName, path); {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return exists()
	default:
		// No hard links on this file system: check, then rename (a small race remains).
		if _, err := os.Lstat(path); err == nil {
			return exists()
		}
		if err := os.Rename(tmpName, path); err != nil {
			return fail(err)
		}
		return nil
	}
}
