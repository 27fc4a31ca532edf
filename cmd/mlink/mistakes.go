package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mlinkdev/mlink/fetch"
	"github.com/mlinkdev/mlink/metalink"
)

// This file turns the common first-run mistakes into errors that say what to do
// instead. Every command that reads a METALINK argument, and every flag that takes
// a hash name, goes through it so that the wording is the same everywhere.

// mistakeSchemeRE matches a URL scheme followed by "://".
var mistakeSchemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// metalinkArgMistake checks a METALINK command-line argument before it is read and
// returns an error naming arg when it is one of the common mistakes:
//
//   - a URL whose scheme is not http or https:
//     `unsupported scheme "ftp": mlink fetches http:// and https:// URLs only`
//   - a directory:
//     `dist is a directory; give the path of a .meta4 or .metalink file inside it`
//   - a path that does not exist and reads like a host name and a path:
//     `releases.example.org/app.meta4: no such file; to download from the network
//     give the full URL: https://releases.example.org/app.meta4`
//   - any other path that does not exist: `x.meta4: no such file`
//
// Credentials and queries in a URL are not repeated (fetch.Redact).
// It returns nil for "-" (standard input), an http or https URL (scheme in any case)
// and an existing non-directory (whose own read errors say what is wrong). The
// errors are bad input: exit status 1 (exitError).
func metalinkArgMistake(arg string) error {
	if arg == "-" {
		return nil
	}
	if m := mistakeSchemeRE.FindString(arg); m != "" {
		scheme := strings.ToLower(strings.TrimSuffix(m, "://"))
		if scheme == "http" || scheme == "https" {
			return nil
		}
		return fmt.Errorf("%s: unsupported scheme %q: mlink fetches http:// and https:// URLs only", fetch.Redact(arg), scheme)
	}
	st, err := os.Stat(arg)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("%s is a directory; give the path of a .meta4 or .metalink file inside it", arg)
	case errors.Is(err, fs.ErrNotExist) && mistakeLooksLikeHost(arg):
		return fmt.Errorf("%s: no such file; to download from the network give the full URL: https://%s", arg, arg)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file", arg)
	}
	return nil
}

// mistakeLooksLikeHost reports whether p reads like "host.name/path" written without
// its scheme: a relative path of at least two components whose first one contains a
// dot inside it (not ".", "..", ".git" or "dist.") and is not an existing directory.
func mistakeLooksLikeHost(p string) bool {
	if filepath.IsAbs(p) {
		return false
	}
	first, rest, ok := strings.Cut(filepath.ToSlash(p), "/")
	if !ok || rest == "" || !strings.Contains(strings.Trim(first, "."), ".") {
		return false
	}
	if st, err := os.Stat(first); err == nil && st.IsDir() {
		return false
	}
	return true
}

// checkHashName returns the canonical name ("sha-256") of a hash name given to flag
// ("--hash"), accepting the spellings metalink.NormalizeHashName knows ("SHA256",
// "sha256"). An unsupported name is a usage error that lists the supported names
// and, for a likely typo ("sha-265"), the name meant; SHA-3 is named as such rather
// than "corrected" to SHA-2.
func checkHashName(flag, name string) (string, error) {
	canon, ok := metalink.NormalizeHashName(name)
	if ok {
		return canon, nil
	}
	list := strings.Join(metalink.SupportedHashes(), ", ")
	squashed := strings.NewReplacer("-", "", "_", "", " ", "").Replace(canon)
	switch {
	case canon == "":
		return "", usageError("%s: empty hash name; mlink supports %s", flag, list)
	case strings.HasPrefix(squashed, "sha3") || strings.HasPrefix(squashed, "keccak"):
		return "", usageError("%s %q: SHA-3 is not supported; mlink supports %s (sha-256 is the usual choice)", flag, name, list)
	}
	if s := nearestHashName(squashed); s != "" {
		return "", usageError("%s %q: unsupported hash; did you mean %s? (mlink supports %s)", flag, name, s, list)
	}
	return "", usageError("%s %q: unsupported hash; mlink supports %s", flag, name, list)
}

// nearestHashName returns the supported hash name within two edits of s (compared
// without dashes), or "" when none or more than one is that close.
func nearestHashName(s string) string {
	best, bestD, ties := "", 3, 0
	for _, h := range metalink.SupportedHashes() {
		d := editDistance(s, strings.ReplaceAll(h, "-", ""))
		switch {
		case d < bestD:
			best, bestD, ties = h, d, 0
		case d == bestD:
			ties++
		}
	}
	if ties > 0 {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b (bytes):
// insertions, deletions, substitutions and transpositions of neighbours ("265"
// for "256") count one each.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
