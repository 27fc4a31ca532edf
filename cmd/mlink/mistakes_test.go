package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetalinkArgMistakes: every command reading a METALINK says what to do for a
// directory, a host name written without its scheme and a scheme other than http(s).
func TestMetalinkArgMistakes(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.meta4")
	for _, cmd := range [][]string{{"show"}, {"convert", "--to", "v4"}, {"mirrors", "check"}} {
		for _, tc := range []struct{ arg, want string }{
			{dir, dir + " is a directory; give the path of a .meta4 or .metalink file inside it"},
			{"releases.example.org/app.meta4", "releases.example.org/app.meta4: no such file; to download from the network give the full URL: https://releases.example.org/app.meta4"},
			{"ftp://user:secret@example.org/a.meta4", `ftp://example.org/a.meta4: unsupported scheme "ftp": mlink fetches http:// and https:// URLs only`},
			{"file:///etc/a.meta4", `file:///etc/a.meta4: unsupported scheme "file": mlink fetches http:// and https:// URLs only`},
			{missing, missing + ": no such file\n"},
		} {
			args := append(append([]string{}, cmd...), tc.arg)
			_, stderr, code := runCLI(t, args...)
			if code != exitError || !strings.Contains(stderr, "mlink: "+tc.want) {
				t.Errorf("mlink %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(args, " "), code, stderr, tc.want)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("mlink %s printed the URL's password: %q", strings.Join(args, " "), stderr)
			}
			if strings.HasPrefix(stderr, "mlink: "+tc.arg+": "+tc.arg) {
				t.Errorf("mlink %s names the argument twice: %q", strings.Join(args, " "), stderr)
			}
		}
	}
	// An existing directory whose name has a dot is a directory, not a host.
	dotted := filepath.Join(dir, "v1.0")
	os.Mkdir(dotted, 0o755)
	if _, stderr, code := runCLI(t, "show", dotted); code != exitError || !strings.Contains(stderr, "is a directory") {
		t.Errorf("dotted directory: exit %d, %q", code, stderr)
	}
	if mistakeLooksLikeHost("v1.0") || mistakeLooksLikeHost("./x.org/a") || mistakeLooksLikeHost("/abs.org/a") || !mistakeLooksLikeHost("x.org/a.meta4") {
		t.Error("mistakeLooksLikeHost misjudges")
	}
}

// TestShowAndConvertURL: show and convert read a metalink over http(s) too.
func TestShowAndConvertURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/metalink4+xml")
		w.Write([]byte(showDocV4))
	}))
	t.Cleanup(srv.Close)
	u := srv.URL + "/app.meta4?token=secret"
	out, stderr, code := runCLI(t, "show", u)
	if code != exitOK || !strings.Contains(out, "dir/app.tar.gz") || strings.Contains(out+stderr, "secret") {
		t.Fatalf("mlink show URL: exit %d, stderr %q\n%s", code, stderr, out)
	}
	out, stderr, code = runCLI(t, "convert", u, "--to", "v3")
	if code != exitOK || !strings.Contains(out, `version="3.0"`) {
		t.Fatalf("mlink convert URL: exit %d, stderr %q\n%s", code, stderr, out)
	}
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	if _, stderr, code := runCLI(t, "show", notFound.URL+"/x.meta4"); code == exitOK || !strings.Contains(stderr, notFound.URL+"/x.meta4") {
		t.Errorf("404: exit %d, stderr %q", code, stderr)
	}
}

// TestHashNameMistakes: every flag taking a hash name accepts the usual spellings
// and, for anything else, lists the supported names (and the likely one meant).
func TestHashNameMistakes(t *testing.T) {
	f := writeTemp(t, "a.bin", "hello")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", "--no-cache", "--hash", "sha265", f}, `--hash "sha265": unsupported hash; did you mean sha-256? (mlink supports sha-512, sha-384, sha-256, sha-224, sha-1, md5)`},
		{[]string{"publish", "--no-cache", "--hash", "sha-256,sha3-256", f}, `--hash "sha3-256": SHA-3 is not supported; mlink supports sha-512, sha-384, sha-256, sha-224, sha-1, md5`},
		{[]string{"publish", "--no-cache", "--piece-hash", "blake3", f}, `--piece-hash "blake3": unsupported hash; mlink supports sha-512`},
		{[]string{"publish", "--no-cache", "--piece-hash", "SHA-3", f}, `--piece-hash "SHA-3": SHA-3 is not supported`},
		{[]string{"serve", "--hash", "sha-521", t.TempDir()}, `--hash "sha-521": unsupported hash; did you mean sha-512?`},
	} {
		_, stderr, code := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("mlink %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	out, stderr, code := runCLI(t, "publish", "--no-cache", "--hash", "SHA256,sha512", "--piece-hash", "sha1", f)
	if code != exitOK || !strings.Contains(out, `<hash type="sha-256">`) || !strings.Contains(out, `<hash type="sha-512">`) || !strings.Contains(out, `type="sha-1"`) {
		t.Errorf("v3-style hash names: exit %d, stderr %q\n%s", code, stderr, out)
	}
	if got := nearestHashName("md4"); got != "md5" {
		t.Errorf("nearestHashName(md4) = %q", got)
	}
	if got := nearestHashName("sha-2"); got != "" {
		t.Errorf("nearestHashName(sha-2) = %q, want none (several as close)", got)
	}
	if got := nearestHashName("crc32"); got != "" {
		t.Errorf("nearestHashName(crc32) = %q, want none", got)
	}
}

// TestPublishMirrorURLNotes: a base URL without "/" is explained, a file's own URL
// given as a mirror base is warned about.
func TestPublishMirrorURLNotes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.tar.gz"), []byte("data"), 0o644)
	_, stderr, code := runCLI(t, "publish", "--no-cache", "--mirror", "https://m.example.org/pub", dir)
	if code != exitOK || !strings.Contains(stderr, `mlink: note: mirror https://m.example.org/pub has no trailing "/"; it is used as a directory: app.tar.gz is at https://m.example.org/pub/app.tar.gz`) {
		t.Errorf("no trailing slash: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "publish", "--no-cache", "--mirror", "https://m.example.org/pub/", "--mirror", "https://n.example.org", dir)
	if code != exitOK || strings.Contains(stderr, "note:") {
		t.Errorf("trailing slash or bare host: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "publish", "--no-cache", "--mirror", "https://m.example.org/pub/app.tar.gz", filepath.Join(dir, "app.tar.gz"))
	want := "mlink: warning: mirror https://m.example.org/pub/app.tar.gz ends with the name of the file app.tar.gz, which is published at " +
		"https://m.example.org/pub/app.tar.gz/app.tar.gz; give the URL of the directory holding it on the mirror instead: https://m.example.org/pub/"
	if code != exitOK || !strings.Contains(stderr, want) || strings.Contains(stderr, "note:") {
		t.Errorf("file URL as mirror: exit %d, stderr %q", code, stderr)
	}
	out, _, code := runCLI(t, "publish", "--no-cache", "--json", "-o", filepath.Join(t.TempDir(), "x.meta4"), "--mirror", "https://m.example.org/pub/app.tar.gz", filepath.Join(dir, "app.tar.gz"))
	if code != exitOK || !strings.Contains(out, "ends with the name of the file") {
		t.Errorf("--json lacks the warning: exit %d\n%s", code, out)
	}
}

// TestSizeSpellings: 1M, 1MiB, 1Mi and 1MB all mean 1048576; other spellings say
// what is wanted.
func TestSizeSpellings(t *testing.T) {
	for _, s := range []string{"1M", "1MiB", "1Mi", "1MB", "1 mib", "1048576"} {
		if n, err := parsePieceSize(s); err != nil || n != 1<<20 {
			t.Errorf("parsePieceSize(%q) = %d, %v", s, n, err)
		}
		if n, err := pushParseSize(s); err != nil || n != 1<<20 {
			t.Errorf("pushParseSize(%q) = %d, %v", s, n, err)
		}
	}
	f := writeTemp(t, "a.bin", "hello")
	_, stderr, code := runCLI(t, "publish", "--no-cache", "--piece-size", "1.5M", f)
	if code != exitUsage || !strings.Contains(stderr, `--piece-size: "1.5M": want auto or a size from 1024 bytes to 1GiB (e.g. 256K, 4MiB)`) {
		t.Errorf("--piece-size 1.5M: exit %d, stderr %q", code, stderr)
	}
}

// TestServeDirMistakes: serve names the directory to give instead of a file.
func TestServeDirMistakes(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app.tar.gz")
	os.WriteFile(f, []byte("data"), 0o644)
	_, stderr, code := runCLI(t, "serve", f)
	if code != exitError || !strings.Contains(stderr, "mlink: "+f+" is a file; serve publishes a directory tree, so give its directory: mlink serve "+dir) {
		t.Errorf("serve FILE: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "serve", filepath.Join(dir, "nope"))
	if code != exitError || !strings.Contains(stderr, "nope: no such directory; serve publishes an existing directory tree") {
		t.Errorf("serve MISSING: exit %d, stderr %q", code, stderr)
	}
}

// TestPushTokenMistakes: a refused upload says whether no token was sent or the
// wrong one.
func TestPushTokenMistakes(t *testing.T) {
	srv, _, _ := pushCLIServer(t)
	a, _ := pushCLIFile(t, "a.bin", 1000)
	bad := writeTemp(t, "token", "wrong-token-0123456789\n")
	t.Setenv(pushTokenEnv, "")
	_, stderr, code := runCLI(t, "push", a, srv.URL+"/x")
	if code != exitError || !strings.Contains(stderr, "no token was sent: give --token-file FILE (the file the server was started with, mlink serve --upload-token-file) or set $"+pushTokenEnv) {
		t.Errorf("no token: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "push", "--token-file", bad, a, srv.URL+"/x")
	if code != exitError || !strings.Contains(stderr, "the token in "+bad+" is not the one the server accepts") || strings.Contains(stderr, "wrong-token") {
		t.Errorf("wrong token: exit %d, stderr %q", code, stderr)
	}
}

// TestPushTargetMistakes: the last argument of push is the URL; say so when it is
// a local file (the URL was forgotten), a host name without scheme or another scheme.
func TestPushTargetMistakes(t *testing.T) {
	a, _ := pushCLIFile(t, "a.bin", 100)
	b, _ := pushCLIFile(t, "b.bin", 100)
	for _, tc := range []struct {
		target, want string
	}{
		{b, "the last argument must be the URL to upload to, but " + b + " is a local file: mlink push FILE... URL"},
		{"m.example.org/pub/", "the last argument must be the URL to upload to; give it with its scheme: https://m.example.org/pub/"},
		{"ftp://u:secret@m.example.org/pub/", `unsupported scheme "ftp": mlink pushes to http:// and https:// URLs only`},
		{"https:///pub/", `the last argument must be the URL to upload to, with a host: got "https:///pub/"`},
	} {
		_, stderr, code := runCLI(t, "push", a, tc.target)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "secret") {
			t.Errorf("mlink push a.bin %s: exit %d, stderr %q; want exit 2 and %q", tc.target, code, stderr, tc.want)
		}
	}
	_, stderr, code := runCLI(t, "push", a)
	if code != exitUsage || !strings.Contains(stderr, "mlink: push needs the files and then the URL to upload them to: mlink push FILE... URL") {
		t.Errorf("mlink push FILE: exit %d, stderr %q", code, stderr)
	}
}

// TestServeAddrInUse: a port already taken says what to do.
func TestServeAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, stderr, code := runCLI(t, "serve", "--addr", ln.Addr().String(), t.TempDir())
	if code != exitError || !strings.Contains(stderr, "another program listens on "+ln.Addr().String()+": stop it or give another --addr") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestFlagFileMistakes: flags naming files say which flag when the file is
// missing; a mirror without scheme and a mistyped subcommand say what to write.
func TestFlagFileMistakes(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.txt")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"publish", "--no-cache", "--mirrors", missing, dir}, exitError, "mlink: --mirrors: open " + missing + ": no such file or directory"},
		{[]string{"serve", "--mirrors", missing, dir}, exitError, "mlink: --mirrors: open " + missing},
		{[]string{"serve", "--tls-cert", missing, "--tls-key", missing, dir}, exitError, "mlink: --tls-cert " + missing + ", --tls-key " + missing + ": open"},
		{[]string{"publish", "--no-cache", "--mirror", "m.example.org/pub/,priority=1", dir}, exitUsage, `a mirror is a URL with its scheme: --mirror https://m.example.org/pub/,priority=1`},
		{[]string{"mirrors", "chek", "a.meta4"}, exitUsage, `unknown command "chek" for "mlink mirrors"; did you mean check? (mlink mirrors check METALINK)`},
		{[]string{"mirrors", "a.meta4"}, exitUsage, `to check the mirrors of a.meta4: mlink mirrors check a.meta4`},
	} {
		_, stderr, code := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("mlink %q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
		if strings.Contains(stderr, "serving") {
			t.Errorf("mlink %q said it was serving: %q", tc.args, stderr)
		}
	}
}
