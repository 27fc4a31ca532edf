package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic (shared by publish, convert, push and mirrors --prune) writes data to path through a temporary file in the same
// directory, fsynced, then linked (no replace) or, with force, renamed over path.
// On any error the temporary file is removed and path is untouched.
func writeFileAtomic(path string, data []byte, force bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if force {
		if err = publishPreflight(path, true); err != nil {
			return err
		}
		if err = os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	// Without --force, never replace: link fails if path appeared meanwhile.
	if err = os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("output %s already exists (use --force to replace it)", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	os.Remove(tmpName)
	return nil
}
