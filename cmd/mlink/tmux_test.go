package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// These tests run the real mlink binary on a terminal: a detached tmux session of a
// fixed size on a private socket, read back with capture-pane. They check what a
// person sees: the live display appears and moves, and the screen ends clean.

// tmuxSession is one tmux server (private socket) with one session.
type tmuxSession struct {
	t    *testing.T
	sock string
	name string
}

// tmuxStart starts a detached 120x30 session on a server of its own running argv
// through sh, which prints "EXIT=status" when the command ends and then keeps the
// pane open. sh ignores SIGINT so that only the command sees Ctrl-C (mlink
// installs its own handler). Neither tmux's remain-on-exit (its "Pane is dead"
// line scrolls the screen) nor its pane_dead_status (missed when tmux starts with
// SIGCHLD blocked) is used.
func tmuxStart(t *testing.T, dir string, argv ...string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, sock: filepath.Join(dir, "tmux.sock"), name: "mlink"}
	args := []string{"-f", os.DevNull, "new-session", "-d", "-s", s.name, "-x", "120", "-y", "30",
		"sh", "-c", `trap "" INT; "$0" "$@"; echo EXIT=$?; exec sleep 600`}
	if out, err := s.cmd(append(args, argv...)...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = s.cmd("kill-server").Run() })
	return s
}

func (s *tmuxSession) cmd(args ...string) *exec.Cmd {
	return exec.Command("tmux", append([]string{"-S", s.sock}, args...)...)
}

// capture returns the visible screen as plain text, trailing blank lines removed.
func (s *tmuxSession) capture() string {
	s.t.Helper()
	out, err := s.cmd("capture-pane", "-p", "-t", s.name).Output()
	if err != nil {
		s.t.Fatalf("tmux capture-pane: %v", err)
	}
	return strings.TrimRight(string(out), "\n ")
}

var tmuxExit = regexp.MustCompile(`(?m)^EXIT=(\d+)$`)

// exited returns the exit status printed on screen, if the command has ended.
func exited(screen string) (string, bool) {
	m := tmuxExit.FindStringSubmatch(screen)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// watch captures the screen until the command exits (or a generous safety limit)
// and returns the distinct screens seen, the last one and the exit status. until, if
// not nil, is called with each new screen; returning true stops its calls.
func (s *tmuxSession) watch(until func(screen string) bool) (screens []string, last, status string) {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		scr := s.capture()
		st, done := exited(scr)
		if len(screens) == 0 || screens[len(screens)-1] != scr {
			screens = append(screens, scr)
			if until != nil && until(scr) {
				until = nil
			}
		}
		if done {
			return screens, scr, st
		}
		time.Sleep(40 * time.Millisecond)
	}
	s.t.Fatalf("mlink did not exit; screen:\n%s", s.capture())
	return nil, "", ""
}

// tmuxFixture builds mlink, starts three throttled mirrors serving size random bytes
// (so that a download lasts a few seconds) and writes their .meta4. meta4Bad names
// the same file on three more such mirrors, the last of which corrupts every piece.
func tmuxFixture(t *testing.T, size, plen int) (bin, meta4, meta4Bad string, data []byte) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (Debian package tmux); skipping the terminal test")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the mlink binary")
	}
	dir := t.TempDir()
	bin = filepath.Join(dir, "mlink")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data = make([]byte, size)
	r := rand.New(rand.NewPCG(11, 12))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	f := metalink.File{Name: "big.bin", Size: int64(size)}
	sum := sha256.Sum256(data)
	f.Hashes = []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}}
	p := metalink.Pieces{Length: int64(plen), Type: "sha-256"}
	for off := 0; off < size; off += plen {
		s := sha256.Sum256(data[off:min(off+plen, size)])
		p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
	}
	f.Pieces = []metalink.Pieces{p}
	write := func(name string, corrupt bool) string {
		f := f
		for i, bps := range []float64{1 << 20, 1 << 20, 768 << 10} {
			opts := []mirrortest.Option{mirrortest.Path("/pub/big.bin"), mirrortest.Throttle(bps)}
			if corrupt && i == 2 {
				opts = append(opts, mirrortest.CorruptFraction(int64(plen), 1, 7)) // every piece: which ones it serves is up to the scheduler
			}
			m := mirrortest.Start(t, data, opts...)
			f.URLs = append(f.URLs, metalink.URL{URL: m.URL(), Priority: i + 1})
		}
		var buf bytes.Buffer
		if err := metalink.Encode(&buf, &metalink.Metalink{Files: []metalink.File{f}}, metalink.FormatV4); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return bin, write("big.bin.meta4", false), write("bad.meta4", true), data
}

var (
	// tmuxFileBar is the file line of the live display: name, percentage, bar, speed, eta.
	tmuxFileBar = regexp.MustCompile(`(?m)^big\.bin +\d+ % \[[=>-]*\] +[0-9.]+ [KMG]?i?B/s +eta \S+$`)
	// tmuxMirrorBar is one mirror's line: host:port, bar, speed, state, counters.
	tmuxMirrorBar = regexp.MustCompile(`(?m)^  127\.0\.0\.1:\d+ +\[[=>-]*\] +[0-9.]+ [KMG]?i?B/s +\w+ +bad \d+ err \d+$`)
	// tmuxGarbage is what escape sequences drawn in the wrong place leave behind.
	tmuxGarbage = regexp.MustCompile("\x1b|\\[[0-9;]*[A-HJKSTfmhl]|\\^\\[|\ufffd")
)

// tmuxCheckClean fails when the screen shows escape-sequence debris or bar lines
// that were drawn more than once or not finished.
func tmuxCheckClean(t *testing.T, screen string) {
	t.Helper()
	if m := tmuxGarbage.FindString(screen); m != "" {
		t.Errorf("escape-sequence garbage %q on the screen:\n%s", m, screen)
	}
	if n := len(tmuxFileBar.FindAllString(screen, -1)); n > 1 {
		t.Errorf("the file bar is on the screen %d times (stale copies left behind):\n%s", n, screen)
	}
	for _, line := range strings.Split(screen, "\n") {
		if strings.Contains(line, "[") && strings.Contains(line, "/s") && strings.Contains(line, "=") &&
			!tmuxFileBar.MatchString(line) && !tmuxMirrorBar.MatchString(line) {
			t.Errorf("half-drawn bar line %q:\n%s", line, screen)
		}
	}
}

func TestTmuxGetProgress(t *testing.T) {
	bin, meta4, meta4Bad, data := tmuxFixture(t, 8<<20, 256<<10)

	t.Run("terminal", func(t *testing.T) {
		dir := t.TempDir()
		s := tmuxStart(t, dir, bin, "get", meta4, "-d", dir)
		screens, last, status := s.watch(nil)
		var live []string
		for _, scr := range screens {
			if tmuxFileBar.MatchString(scr) && tmuxMirrorBar.MatchString(scr) && !strings.Contains(scr, "verified") {
				live = append(live, tmuxFileBar.FindString(scr))
				tmuxCheckClean(t, scr)
			}
		}
		if len(live) == 0 {
			t.Fatalf("the live display (file bar with speed and eta, one line per mirror) never appeared; screens:\n%s", strings.Join(screens, "\n-----\n"))
		}
		changed := false
		for _, l := range live[1:] {
			changed = changed || l != live[0]
		}
		if !changed {
			t.Errorf("the file bar never changed: %q", live[0])
		}
		if status != "0" {
			t.Fatalf("mlink get exited %s; screen:\n%s", status, last)
		}
		if !regexp.MustCompile(`big\.bin: done, 8\.0 MiB in .* 3 mirrors, sha-256:[0-9a-f]{64} verified`).MatchString(strings.ReplaceAll(last, "\n", "")) {
			t.Errorf("final summary missing:\n%s", last)
		}
		if bar := tmuxFileBar.FindString(last); !strings.Contains(bar, "100 %") {
			t.Errorf("final file bar is not at 100 %%: %q\n%s\nscreens:\n%s", bar, last, strings.Join(screens[max(0, len(screens)-4):], "\n-----\n"))
		}
		if n := len(tmuxMirrorBar.FindAllString(last, -1)); n != 3 {
			t.Errorf("final screen has %d mirror lines, want 3:\n%s", n, last)
		}
		tmuxCheckClean(t, last)
		if got, err := os.ReadFile(filepath.Join(dir, "big.bin")); err != nil || !bytes.Equal(got, data) {
			t.Errorf("downloaded file differs (err %v)", err)
		}
	})

	t.Run("pipe", func(t *testing.T) {
		dir := t.TempDir()
		// stderr and stdout into cat -v: no terminal, so plain lines; cat -v shows any
		// escape byte as ^[.
		script := "'" + bin + "' get '" + meta4 + "' -d '" + dir + "' 2>&1; echo MLINK_EXIT=$?"
		s := tmuxStart(t, dir, "sh", "-c", "{ "+script+"; } | cat -v")
		_, last, _ := s.watch(nil)
		if !strings.Contains(last, "MLINK_EXIT=0") {
			t.Fatalf("mlink get | cat did not exit 0:\n%s", last)
		}
		if strings.Contains(last, "^[") || strings.Contains(last, "[=") {
			t.Errorf("escape codes or a bar in piped output:\n%s", last)
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^big\.bin: 8\.0 MiB, 32 pieces$`),
			regexp.MustCompile(`(?m)^big\.bin: +\d+\.\d% [0-9.]+ [KMG]?i?B/s eta \S+ \| 127\.0\.0\.1:\d+ `),
			regexp.MustCompile(`big\.bin: done, 8\.0 MiB in `),
		} {
			if !want.MatchString(last) {
				t.Errorf("piped output lacks %s:\n%s", want, last)
			}
		}
	})

	// A piece that failed its hash is reported once, as a line that must land above
	// the bars, not shift them (which leaves a stale copy of the top bar on the
	// screen); fetch's own log record of it is not printed a second time.
	t.Run("log lines", func(t *testing.T) {
		dir := t.TempDir()
		s := tmuxStart(t, dir, bin, "get", meta4Bad, "-d", dir)
		screens, last, status := s.watch(nil)
		if status != "0" {
			t.Fatalf("mlink get exited %s; screen:\n%s", status, last)
		}
		for _, scr := range screens {
			tmuxCheckClean(t, scr)
		}
		flat := strings.ReplaceAll(last, "\n", "")
		if !strings.Contains(flat, "failed its hash") || !strings.Contains(flat, "verified") {
			t.Errorf("the final screen lacks the warning or the summary:\n%s", last)
		}
		if strings.Contains(flat, `msg="bad piece"`) {
			t.Errorf("the bad piece is reported twice (fetch's log record too):\n%s", last)
		}
		if i, j := strings.Index(last, "failed its hash"), strings.Index(last, "big.bin  "); i < 0 || j < 0 || i > j {
			t.Errorf("the warning is not above the bars:\n%s", last)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		dir := t.TempDir()
		s := tmuxStart(t, dir, bin, "get", meta4, "-d", dir)
		pct := regexp.MustCompile(`big\.bin +([1-9]\d?) % \[`)
		sent := false
		_, last, status := s.watch(func(scr string) bool {
			if pct.MatchString(scr) {
				if out, err := s.cmd("send-keys", "-t", s.name, "C-c").CombinedOutput(); err != nil {
					t.Errorf("tmux send-keys: %v: %s", err, out)
				}
				sent = true
				return true
			}
			return false
		})
		if !sent {
			t.Fatalf("never saw the download between 1 and 99 %%; screen:\n%s", last)
		}
		if status != "130" {
			t.Fatalf("interrupted mlink get exited %s, want 130; screen:\n%s", status, last)
		}
		flat := strings.ReplaceAll(last, "\n", "")
		if !strings.Contains(flat, "interrupted; run the same command again to resume") {
			t.Errorf("the screen does not say how to resume:\n%s", last)
		}
		tmuxCheckClean(t, last)
		if _, err := os.Stat(filepath.Join(dir, "big.bin")); err == nil {
			t.Errorf("big.bin exists after an interrupted download")
		}

		s2 := tmuxStart(t, t.TempDir(), bin, "get", meta4, "-d", dir)
		_, last, status = s2.watch(nil)
		if status != "0" {
			t.Fatalf("rerun exited %s:\n%s", status, last)
		}
		flat = strings.ReplaceAll(last, "\n", "")
		if !regexp.MustCompile(`resumed: [1-9]\d* of 32 pieces were already verified on disk`).MatchString(flat) {
			t.Errorf("rerun did not resume:\n%s", last)
		}
		tmuxCheckClean(t, last)
		if got, err := os.ReadFile(filepath.Join(dir, "big.bin")); err != nil || !bytes.Equal(got, data) {
			t.Errorf("resumed file differs (err %v)", err)
		}
	})
}

var (
	// tmuxFilesBar is the file line of any fK.bin of the multi-file display.
	tmuxFilesBar = regexp.MustCompile(`(?m)^(f\d\.bin) +\d+ % \[[=>-]*\] +[0-9.]+ [KMG]?i?B/s +eta \S+$`)
	// tmuxTotal is the total line shown while several files are in flight.
	tmuxTotal = regexp.MustCompile(`(?m)^total  \d/5 files done  [0-9.]+ [KM]?i?B / 5\.0 MiB  [0-9.]+ [KMG]?i?B/s  eta \S+$`)
)

// tmuxCheckFiles fails when a screen of the multi-file display shows escape-sequence
// debris, a file's bar twice, or a half-drawn bar line; it reports whether the screen
// shows two files in flight or more, with their mirror lines and the total line.
func tmuxCheckFiles(t *testing.T, scr string) (several bool) {
	t.Helper()
	if m := tmuxGarbage.FindString(scr); m != "" {
		t.Errorf("escape-sequence garbage %q on the screen:\n%s", m, scr)
	}
	seen := map[string]int{}
	for _, m := range tmuxFilesBar.FindAllStringSubmatch(scr, -1) {
		seen[m[1]]++
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("the bar of %s is on the screen %d times:\n%s", name, n, scr)
		}
	}
	for _, line := range strings.Split(scr, "\n") {
		if strings.Contains(line, "[") && strings.Contains(line, "/s") && strings.Contains(line, "=") &&
			!tmuxFilesBar.MatchString(line) && !tmuxMirrorBar.MatchString(line) {
			t.Errorf("half-drawn bar line %q:\n%s", line, scr)
		}
	}
	return len(seen) >= 2 && tmuxTotal.MatchString(scr) && tmuxMirrorBar.MatchString(scr)
}

// TestTmuxGetSeveralFiles runs mlink get on a metalink of five files on three
// throttled mirrors: the screen shows several files in flight at once, each with its
// own bar and mirror lines, and a total line; no bar is drawn twice or left
// half-drawn; the run ends with one summary line per file and the files are right.
// Interrupted, the last frame keeps the bars of the files in flight and says so in
// the total line, and the same command resumes.
func TestTmuxGetSeveralFiles(t *testing.T) {
	bin, _, _, _ := tmuxFixture(t, 1<<10, 1<<10)
	meta4, datas := getMultiFixture(t, 5, 1<<20, 128<<10, 3, 512<<10)
	// Run from dir so that the summary lines name the files without a long path.
	get := func(t *testing.T, dir string) *tmuxSession {
		return tmuxStart(t, t.TempDir(), "sh", "-c", `cd "$1" && exec "$2" get "$3"`, "sh", dir, bin, meta4)
	}
	checkDone := func(t *testing.T, dir, last string) {
		t.Helper()
		flat := strings.ReplaceAll(last, "\n", "")
		for k := range datas {
			name := fmt.Sprintf("f%d.bin", k+1)
			re := regexp.MustCompile(regexp.QuoteMeta(name) + `: (done, 1\.0 MiB in [0-9.]+s \([^)]*\), 3 mirrors, sha-256:[0-9a-f]{64} verified|already complete)`)
			if n := len(re.FindAllString(flat, -1)); n != 1 {
				t.Errorf("%d summary lines for %s, want 1:\n%s", n, name, last)
			}
			if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, datas[k]) {
				t.Errorf("%s differs (err %v)", name, err)
			}
		}
	}

	t.Run("terminal", func(t *testing.T) {
		dir := t.TempDir()
		screens, last, status := get(t, dir).watch(nil)
		several := ""
		for _, scr := range screens {
			if tmuxCheckFiles(t, scr) && several == "" {
				several = scr
			}
		}
		t.Logf("several files in flight:\n%s", several)
		if several == "" {
			t.Errorf("never two files in flight with their bars, mirror lines and the total line; screens:\n%s", strings.Join(screens, "\n-----\n"))
		}
		if status != "0" {
			t.Fatalf("mlink get exited %s; screen:\n%s", status, last)
		}
		checkDone(t, dir, last)
		if !regexp.MustCompile(`(?m)^total  5/5 files done  5\.0 MiB in `).MatchString(last) {
			t.Errorf("the last frame lacks the final total line:\n%s", last)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		dir := t.TempDir()
		s := get(t, dir)
		sent := false
		screens, last, status := s.watch(func(scr string) bool {
			if strings.Contains(scr, "f1.bin: finished") && tmuxCheckFiles(t, scr) {
				if out, err := s.cmd("send-keys", "-t", s.name, "C-c").CombinedOutput(); err != nil {
					t.Errorf("tmux send-keys: %v: %s", err, out)
				}
				sent = true
				return true
			}
			return false
		})
		if !sent {
			t.Fatalf("never saw a file finished and two in flight; screens:\n%s", strings.Join(screens, "\n-----\n"))
		}
		if status != "130" {
			t.Fatalf("interrupted mlink get exited %s, want 130; screen:\n%s", status, last)
		}
		t.Logf("interrupted:\n%s", last)
		for _, scr := range screens {
			tmuxCheckFiles(t, scr)
		}
		if !regexp.MustCompile(`(?m)^total  [1-4]/5 files done  [0-9.]+ [KM]?i?B / 5\.0 MiB  interrupted$`).MatchString(last) {
			t.Errorf("the last frame does not say the download was interrupted:\n%s", last)
		}
		if len(tmuxFilesBar.FindAllString(last, -1)) == 0 {
			t.Errorf("the last frame lost the bars of the files in flight:\n%s", last)
		}
		if strings.Contains(last, "failed") {
			t.Errorf("interrupted files are said to have failed:\n%s", last)
		}
		if flat := strings.ReplaceAll(last, "\n", ""); !strings.Contains(flat, "interrupted; run the same command again to resume") {
			t.Errorf("the screen does not say how to resume:\n%s", last)
		}

		_, last, status = get(t, dir).watch(nil)
		if status != "0" {
			t.Fatalf("rerun exited %s:\n%s", status, last)
		}
		checkDone(t, dir, last)
		if !strings.Contains(last, "already complete") {
			t.Errorf("the rerun did not find f1.bin complete:\n%s", last)
		}
	})
}
