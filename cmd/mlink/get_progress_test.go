package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/fetch"
	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// TestGetUIBarFrames drives the bar display with events and checks the bytes it
// writes: every redraw returns to column 0 before moving up (so an echoed ^C
// cannot shift it), a line written through the UI lands above the bars, and the
// last frame shows the finished file. The terminal view is in tmux_test.go.
func TestGetUIBarFrames(t *testing.T) {
	var out serveSyncBuffer
	u := newGetUI(&out, "bar", false)
	const size = 4 << 20
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "f.bin", Size: size, Pieces: 4})
	mirrors := []fetch.MirrorReport{{URL: "http://127.0.0.1:1/f.bin", State: fetch.MirrorActive, Speed: 1 << 20, Good: 1 << 20}}
	u.event(fetch.Event{Kind: fetch.EventProgress, File: "f.bin", Size: size, Done: 1 << 20, Speed: 1 << 20, Mirrors: mirrors})
	log := u.logger(slog.New(slog.NewTextHandler(io.Discard, nil))) // info level
	log.Debug("not shown")
	log.Warn("bad piece", "piece", 1)
	mirrors[0].Good = size
	u.event(fetch.Event{Kind: fetch.EventProgress, File: "f.bin", Size: size, Done: size, Speed: 2 << 20, Mirrors: mirrors})
	u.event(fetch.Event{Kind: fetch.EventFileDone, File: "f.bin", Size: size, Done: size})
	u.close()
	got := out.String()

	if !strings.Contains(got, "bad piece") {
		t.Fatalf("the line written through the UI is missing:\n%q", got)
	}
	if bare := regexp.MustCompile(`[^\r]\x1b\[\d+A`).FindString(got); bare != "" {
		t.Errorf("cursor-up without a carriage return first: %q in\n%q", bare, got)
	}
	last := got[strings.LastIndex(got, "\x1b[J")+len("\x1b[J"):]
	if !regexp.MustCompile(`f\.bin +100 % \[=+\] +[0-9.]+ MiB/s +eta <1s\n  127\.0\.0\.1:1 +\[`).MatchString(last) {
		t.Errorf("last frame is not the finished file:\n%q", last)
	}
	if i, j := strings.Index(got, "bad piece"), strings.LastIndex(got, "f.bin "); i > j {
		t.Errorf("the log line is below the bars:\n%q", got)
	}
	if strings.Contains(got, "not shown") {
		t.Errorf("the logger's level was not kept:\n%q", got)
	}
	if u.logger(nil) != nil {
		t.Error("logger(nil) is not nil")
	}
	// Written after the bars are gone: straight to the output.
	u.Write([]byte("after\n"))
	if !strings.HasSuffix(out.String(), "after\n") {
		t.Errorf("a write after the bars is lost:\n%q", out.String())
	}
}

func TestGetETA(t *testing.T) {
	for secs, want := range map[float64]string{0.2: "<1s", 0.7: "1s", 1.4: "1s", 59.6: "1m0s", 3725: "1h2m5s"} {
		if got := getETA(secs); got != want {
			t.Errorf("getETA(%v) = %q, want %q", secs, got, want)
		}
	}
}

// TestGetConsoleFrames: each frame after the first starts by going back to
// column 0, up over the previous frame, and erasing it; text printed between
// frames comes after that and before the bars.
func TestGetConsoleFrames(t *testing.T) {
	var out bytes.Buffer
	c := newGetConsole(&out)
	c.Write([]byte("bar 1\nmirror 1\n"))
	c.Flush(2)
	c.Write([]byte("log line\n"))
	c.Write([]byte("bar 2\nmirror 2\n"))
	c.Flush(2)
	want := "bar 1\nmirror 1\n\r\x1b[2A\x1b[Jlog line\nbar 2\nmirror 2\n"
	if out.String() != want {
		t.Errorf("frames %q, want %q", out.String(), want)
	}
	if w, h, err := c.GetTermSize(); err != nil || w <= 0 || h <= 0 || !c.IsTerminal() {
		t.Errorf("size of a non-terminal: %d x %d, %v", w, h, err)
	}
}

// getUIFrame has the bar display draw a frame now and returns once it is written.
func getUIFrame(t *testing.T, u *getUI) {
	t.Helper()
	u.mu.Lock()
	p := u.p
	u.mu.Unlock()
	if p == nil {
		t.Fatal("no live display to draw")
	}
	u.refresh <- nil
	u.refresh <- nil // taken once the first frame is being drawn
	p.Write(nil)     // served after it
}

// getLastFrame is the last frame the bar display wrote (after its last erase).
func getLastFrame(out string) string {
	i := strings.LastIndex(out, "\x1b[J")
	if i < 0 {
		return out
	}
	return out[i+len("\x1b[J"):]
}

func getMirrorEv(file string, size, done int64, speed float64, port int) fetch.Event {
	return fetch.Event{Kind: fetch.EventProgress, File: file, Size: size, Done: done, Speed: speed,
		Mirrors: []fetch.MirrorReport{{URL: fmt.Sprintf("http://127.0.0.1:%d/%s", port, file), State: fetch.MirrorActive, Speed: speed, Good: done}}}
}

// TestGetUIBarSeveralFiles feeds the bar display the interleaved events of three
// files downloading at once: each file's bar shows its own progress with its own
// mirror line under it, the total line sums them, a file that finishes or fails
// leaves a line above the bars of the others (which go on), and the last one ends
// the display with its bar at 100 %.
func TestGetUIBarSeveralFiles(t *testing.T) {
	var out serveSyncBuffer
	u := newGetUI(&out, "bar", false)
	u.refresh = make(chan any)
	u.expect(3, 7<<20)
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "a.bin", Size: 4 << 20, Pieces: 4})
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "b.bin", Size: 2 << 20, Pieces: 2})
	u.event(getMirrorEv("a.bin", 4<<20, 1<<20, 1<<20, 1))
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "c.bin", Size: 1 << 20, Pieces: 1})
	u.event(getMirrorEv("c.bin", 1<<20, 768<<10, 256<<10, 3))
	u.event(getMirrorEv("b.bin", 2<<20, 1<<20, 512<<10, 2))
	getUIFrame(t, u)

	frame := getLastFrame(out.String())
	for _, re := range []string{
		`(?m)^a\.bin +25 % \[[=>-]+\] +1\.0 MiB/s +eta 3s\n  127\.0\.0\.1:1 `,
		`(?m)^b\.bin +50 % \[[=>-]+\] +512\.0 KiB/s +eta 2s\n  127\.0\.0\.1:2 `,
		`(?m)^c\.bin +75 % \[[=>-]+\] +256\.0 KiB/s +eta 1s\n  127\.0\.0\.1:3 `,
		`(?m)^total  0/3 files done  2\.8 MiB / 7\.0 MiB  1\.8 MiB/s  eta 2s *$`,
	} {
		if !regexp.MustCompile(re).MatchString(frame) {
			t.Errorf("frame lacks %s:\n%s", re, frame)
		}
	}
	if i, j, k := strings.Index(frame, "a.bin"), strings.Index(frame, "b.bin"), strings.Index(frame, "c.bin"); !(i < j && j < k) {
		t.Errorf("files not in start order:\n%s", frame)
	}

	u.event(getMirrorEv("b.bin", 2<<20, 2<<20, 0, 2))
	u.event(fetch.Event{Kind: fetch.EventFileDone, File: "b.bin", Size: 2 << 20, Done: 2 << 20})
	u.event(getMirrorEv("a.bin", 4<<20, 2<<20, 1<<20, 1))
	getUIFrame(t, u)
	getUIFrame(t, u) // mpb draws a dropped bar once more
	got := out.String()
	frame = getLastFrame(got)
	if strings.Contains(frame, "b.bin ") || strings.Contains(frame, "127.0.0.1:2") {
		t.Errorf("the finished file's bars are still drawn:\n%s", frame)
	}
	if !regexp.MustCompile(`(?m)^a\.bin +50 % `).MatchString(frame) || !regexp.MustCompile(`(?m)^c\.bin +75 % `).MatchString(frame) {
		t.Errorf("finishing b.bin ended the others:\n%s", frame)
	}
	if !regexp.MustCompile(`(?m)^total  1/3 files done  4\.8 MiB / 7\.0 MiB `).MatchString(frame) {
		t.Errorf("the total does not count the finished file:\n%s", frame)
	}
	if i, j := strings.LastIndex(got, "b.bin: finished, 2.0 MiB in "), strings.LastIndex(got, "a.bin "); i < 0 || i > j {
		t.Errorf("no line about the finished file above the bars:\n%q", got)
	}

	u.event(fetch.Event{Kind: fetch.EventFileFailed, File: "c.bin", Size: 1 << 20, Err: errors.New("c.bin: no mirror left")})
	u.event(getMirrorEv("a.bin", 4<<20, 4<<20, 0, 1))
	u.event(fetch.Event{Kind: fetch.EventFileDone, File: "a.bin", Size: 4 << 20, Done: 4 << 20})
	u.close()
	got = out.String()
	if !strings.Contains(got, "c.bin: failed: c.bin: no mirror left\n") {
		t.Errorf("no line about the failed file:\n%q", got)
	}
	frame = getLastFrame(got)
	if !regexp.MustCompile(`(?m)^a\.bin +100 % \[=+\] +1\.0 MiB/s +eta <1s\n  127\.0\.0\.1:1 `).MatchString(frame) {
		t.Errorf("the last frame is not the finished a.bin:\n%s", frame)
	}
	if !regexp.MustCompile(`(?m)^total  2/3 files done, 1 failed  6\.0 MiB in \d`).MatchString(frame) {
		t.Errorf("the last total line:\n%s", frame)
	}
	if regexp.MustCompile(`(?m)^c\.bin +\d+ % `).MatchString(frame) {
		t.Errorf("the failed file is still drawn:\n%s", frame)
	}
}

// TestGetUIBarManyFiles: at most getMaxShown files have bars; the others are
// counted on a "+N more" line and take the place of a file that ends.
func TestGetUIBarManyFiles(t *testing.T) {
	var out serveSyncBuffer
	u := newGetUI(&out, "bar", false)
	u.refresh = make(chan any)
	defer u.close()
	for i := 1; i <= 6; i++ {
		name := fmt.Sprintf("f%d.bin", i)
		u.event(fetch.Event{Kind: fetch.EventFileStart, File: name, Size: 1 << 20, Pieces: 1})
		u.event(getMirrorEv(name, 1<<20, int64(i)<<17, 1<<20, i))
	}
	getUIFrame(t, u)
	bar := regexp.MustCompile(`(?m)^f(\d)\.bin +\d+ % `)
	shown := func(frame string) (s string) {
		for _, m := range bar.FindAllStringSubmatch(frame, -1) {
			s += m[1]
		}
		return s
	}
	frame := getLastFrame(out.String())
	if s := shown(frame); s != "1234" || !regexp.MustCompile(`(?m)^  \+2 more files in flight *\n`).MatchString(frame) {
		t.Errorf("files shown %q, want 1234 and +2 more:\n%s", s, frame)
	}
	if !strings.Contains(frame, "total  0/6 files done  2.6 MiB / 6.0 MiB ") {
		t.Errorf("total line:\n%s", frame)
	}
	u.event(fetch.Event{Kind: fetch.EventFileDone, File: "f2.bin", Size: 1 << 20, Done: 1 << 20})
	getUIFrame(t, u)
	getUIFrame(t, u)
	frame = getLastFrame(out.String())
	if s := shown(frame); s != "1345" || !regexp.MustCompile(`(?m)^  \+1 more file in flight *\n`).MatchString(frame) {
		t.Errorf("after f2 finished: files shown %q, want 1345 and +1 more file:\n%s", s, frame)
	}
	if !regexp.MustCompile(`(?m)^f5\.bin +62 % .*\n  127\.0\.0\.1:5 `).MatchString(frame) {
		t.Errorf("f5 did not get its bar and mirror line with what it had done:\n%s", frame)
	}
	u.event(fetch.Event{Kind: fetch.EventFileFailed, File: "f1.bin", Size: 1 << 20})
	getUIFrame(t, u)
	getUIFrame(t, u)
	frame = getLastFrame(out.String())
	if s := shown(frame); s != "3456" || strings.Contains(frame, " more file") {
		t.Errorf("after f1 failed: files shown %q, want 3456 and no more line:\n%s", s, frame)
	}
}

// TestGetUIPlainSeveralFiles: the plain lines name each file in flight with its own
// progress and mirrors, add a total line, and say when a file finishes or fails.
func TestGetUIPlainSeveralFiles(t *testing.T) {
	var out serveSyncBuffer
	u := newGetUI(&out, "plain", false)
	u.expect(3, 7<<20)
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "a.bin", Size: 4 << 20, Pieces: 4})
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "b.bin", Size: 2 << 20, Pieces: 2})
	u.event(getMirrorEv("a.bin", 4<<20, 1<<20, 1<<20, 1))
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "c.bin", Size: 1 << 20, Pieces: 1})
	u.event(getMirrorEv("c.bin", 1<<20, 768<<10, 256<<10, 3))
	u.lastPlain = time.Time{} // the period is up
	u.event(getMirrorEv("b.bin", 2<<20, 1<<20, 512<<10, 2))
	u.event(getMirrorEv("b.bin", 2<<20, 2<<20, 0, 2))
	u.event(fetch.Event{Kind: fetch.EventFileDone, File: "b.bin", Size: 2 << 20, Done: 2 << 20})
	u.event(fetch.Event{Kind: fetch.EventFileFailed, File: "c.bin", Size: 1 << 20, Err: errors.New("c.bin: no mirror left")})
	u.lastPlain = time.Time{}
	u.event(getMirrorEv("a.bin", 4<<20, 3<<20, 1<<20, 1))
	u.close()
	want := `a.bin: 4.0 MiB, 4 pieces
b.bin: 2.0 MiB, 2 pieces
c.bin: 1.0 MiB, 1 pieces
a.bin:  25.0% 1.0 MiB/s eta 3s | 127.0.0.1:1 1.0 MiB/s active
b.bin:  50.0% 512.0 KiB/s eta 2s | 127.0.0.1:2 512.0 KiB/s active
c.bin:  75.0% 256.0 KiB/s eta 1s | 127.0.0.1:3 256.0 KiB/s active
total: 0 of 3 files done, 3 in flight, 2.8 MiB of 7.0 MiB, 1.8 MiB/s, eta 2s
b.bin: finished, 2.0 MiB in 0s
c.bin: failed: c.bin: no mirror left
a.bin:  75.0% 1.0 MiB/s eta 1s | 127.0.0.1:1 1.0 MiB/s active
`
	if got := regexp.MustCompile(`in [0-9.]+m?s\n`).ReplaceAllString(out.String(), "in 0s\n"); got != want {
		t.Errorf("plain lines:\n%s\nwant:\n%s", got, want)
	}
}

// A lone file in plain mode gets no "finished" line: the summary that follows says it.
func TestGetUIPlainSingleFileNoFinishedLine(t *testing.T) {
	var out serveSyncBuffer
	u := newGetUI(&out, "plain", false)
	u.expect(1, 1<<20)
	u.event(fetch.Event{Kind: fetch.EventFileStart, File: "a.bin", Size: 1 << 20, Pieces: 1})
	u.event(fetch.Event{Kind: fetch.EventPieceBad, File: "a.bin", Piece: 0, Mirror: "http://m/a.bin"})
	u.event(fetch.Event{Kind: fetch.EventFileDone, File: "a.bin", Size: 1 << 20, Done: 1 << 20})
	u.close()
	got := out.String()
	if strings.Contains(got, "finished") || !strings.Contains(got, "a.bin: piece 0 from http://m/a.bin failed its hash") {
		t.Errorf("plain output of one file:\n%s\nwant the bad-piece line and no finished line", got)
	}
}

// getMultiFixture writes the .meta4 of n files fK.bin (K from 1) of size random
// bytes each, with sha-256 pieces of plen bytes, served by mirrors mirrortest mirrors
// throttled to bps bytes/s each (0: no limit), every one serving every file.
func getMultiFixture(t *testing.T, n, size, plen, mirrors int, bps float64) (meta4 string, datas [][]byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(21, uint64(n)))
	var files []metalink.File
	var opts []mirrortest.Option
	for k := 1; k <= n; k++ {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		datas = append(datas, data)
		name := fmt.Sprintf("f%d.bin", k)
		sum := sha256.Sum256(data)
		f := metalink.File{Name: name, Size: int64(size), Hashes: []metalink.Hash{{Type: "sha-256", Value: hex.EncodeToString(sum[:])}}}
		p := metalink.Pieces{Length: int64(plen), Type: "sha-256"}
		for off := 0; off < size; off += plen {
			s := sha256.Sum256(data[off:min(off+plen, size)])
			p.Hashes = append(p.Hashes, hex.EncodeToString(s[:]))
		}
		f.Pieces = []metalink.Pieces{p}
		files = append(files, f)
		opts = append(opts, mirrortest.File("/pub/"+name, data))
	}
	if bps > 0 {
		opts = append(opts, mirrortest.Throttle(bps))
	}
	for i := 0; i < mirrors; i++ {
		m := mirrortest.Start(t, nil, append([]mirrortest.Option{mirrortest.Path("/unused")}, opts...)...)
		for k := range files {
			files[k].URLs = append(files[k].URLs, metalink.URL{URL: m.FileURL("/pub/" + files[k].Name), Priority: i + 1})
		}
	}
	var buf bytes.Buffer
	if err := metalink.Encode(&buf, &metalink.Metalink{Files: files}, metalink.FormatV4); err != nil {
		t.Fatal(err)
	}
	meta4 = filepath.Join(t.TempDir(), "multi.meta4")
	if err := os.WriteFile(meta4, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return meta4, datas
}

// TestGetMaxFilesOne: with --max-files 1 the files of a metalink download one after
// another: in the plain progress lines each file finishes before the next starts,
// and no total line (printed while several files are in flight) appears.
func TestGetMaxFilesOne(t *testing.T) {
	meta4, datas := getMultiFixture(t, 3, 256<<10, 64<<10, 2, 4<<20)
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "get", meta4, "-d", dir, "--max-files", "1", "--progress", "plain", "--json")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	var events []string
	for _, l := range strings.Split(errOut, "\n") {
		if m := regexp.MustCompile(`^(f\d\.bin): (256\.0 KiB, 4 pieces|finished)`).FindStringSubmatch(l); m != nil {
			events = append(events, m[1]+" "+strings.Fields(m[2])[0])
		}
	}
	want := "f1.bin 256.0 f1.bin finished f2.bin 256.0 f2.bin finished f3.bin 256.0 f3.bin finished"
	if got := strings.Join(events, " "); got != want {
		t.Errorf("start and finish lines %q, want %q:\n%s", got, want, errOut)
	}
	if strings.Contains(errOut, "total:") {
		t.Errorf("a total line, so several files were in flight:\n%s", errOut)
	}
	var res getResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Metalinks) != 1 || res.Metalinks[0].Report == nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	for k, f := range res.Metalinks[0].Report.Files {
		if f.State != "done" {
			t.Errorf("%s: %s %s", f.Name, f.State, f.Error)
		}
		if got, err := os.ReadFile(filepath.Join(dir, f.Name)); err != nil || !bytes.Equal(got, datas[k]) {
			t.Errorf("%s differs (err %v)", f.Name, err)
		}
	}

	if _, errOut, code := runCLI(t, "get", meta4, "-d", dir, "--max-files", "-2"); code != exitUsage || !strings.Contains(errOut, `--max-files`) {
		t.Errorf("--max-files -2: exit %d, want %d and an error naming the flag:\n%s", code, exitUsage, errOut)
	}
}

// TestGetPrintSummaryResume: the summary says what a resume reused (verified pieces,
// bytes of unfinished ones) and how often a plain download started over.
func TestGetPrintSummaryResume(t *testing.T) {
	rep := &fetch.Report{Files: []fetch.FileReport{
		{Name: "a", Path: "a", Size: 64 << 20, State: "done", Hash: "sha-256:00", Pieces: 64, Resumed: 12, ResumedPartial: 3355443},
		{Name: "b", Path: "b", Size: 8 << 20, State: "done", Hash: "sha-256:01", Pieces: 8, ResumedPartial: 512 << 10},
		{Name: "c", Path: "c", Size: 1 << 20, State: "done", Pieces: 1, Restarted: 1},
		{Name: "d", Path: "d", Size: 1 << 20, State: "done", Hash: "sha-256:02", Pieces: 1},
	}}
	var out bytes.Buffer
	getPrintSummary(&out, rep)
	got := out.String()
	for _, want := range []string{
		"a: done, 64.0 MiB in 0.00s (0 B/s), 0 mirrors, sha-256:00 verified\n  resumed: 12 of 64 pieces were already verified on disk, and 3.2 MiB of unfinished ones\n",
		"b: done, 8.0 MiB in 0.00s (0 B/s), 0 mirrors, sha-256:01 verified\n  resumed: 512.0 KiB of unfinished pieces were on disk (each piece still verified whole)\n",
		"c: done, 1.0 MiB in 0.00s (0 B/s), 0 mirrors, NOT verified\n  restarted from zero once: the source changed during the download",
		"d: done, 1.0 MiB in 0.00s (0 B/s), 0 mirrors, sha-256:02 verified\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "resumed:") != 2 || strings.Count(got, "restarted") != 1 {
		t.Errorf("resume or restart lines for files that had none:\n%s", got)
	}
}
