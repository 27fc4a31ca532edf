package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/mlinkdev/mlink/fetch"
	"github.com/mlinkdev/mlink/metalink"
)

func getTermIsTerminal(fd int) bool { return term.IsTerminal(fd) }

// getTermWidth is the width of the terminal w, 0 when unknown (mpb draws nothing then).
func getTermWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// The limits of the live display: the per-file bars of at most getMaxShown files
// (the first started of those in flight; the others are counted on a "+N more
// files" line and take a freed place in start order), each with at most
// getMaxMirrorLines mirror lines (fewer on a terminal of fewer than 30 rows: see
// mirrorLinesLocked), so that a metalink of 500 files or 50 mirrors fits on the
// screen.
const (
	getMaxShown       = 4
	getMaxMirrorLines = 5
	// getPlainEvery is the period of the plain progress lines.
	getPlainEvery = 2 * time.Second
)

// Bar priorities (lower is higher on the screen): each file's bar and mirror lines
// together in start order, then the "+N more files" line, then the total line.
const (
	getPrioFile  = 1000    // file number n: n*getPrioFile, its mirror lines after it
	getPrioMore  = 1 << 30 // an int on 32-bit platforms too
	getPrioTotal = getPrioMore + 1
)

// getUI shows fetch events: live mpb bars on a terminal, plain lines every few
// seconds otherwise, nothing with --quiet (warnings excepted unless quiet). Files of
// a multi-file metalink download at once: each has its own state (keyed by the
// event's File), its bar and mirror lines; a total line appears once more than one
// file is in flight. A file that ends while others go on leaves a line above the
// live bars (as a log line does) and its bars go; the last file in flight ends the
// live display with its final frame on the screen, as a single file always did.
type getUI struct {
	w     io.Writer
	mode  string // bar, plain, none
	quiet bool

	mu sync.Mutex // guards everything; never taken by mpb decorators
	// sm guards what the decorators read: the numbers of each getFile, mirrorLine.rep,
	// live, the counters below. It is never held while calling into mpb.
	sm        sync.Mutex
	p         *mpb.Progress
	files     map[string]*getFile // by metalink name; only files that started
	live      []*getFile          // in flight, in start order
	seq       int                 // files started
	multi     bool                // two or more files were in flight at once
	hidden    int                 // live files without bars
	totalBar  *mpb.Bar
	moreBar   *mpb.Bar
	lastPlain time.Time
	begin     time.Time // the first file started
	refresh   chan any  // tests: frames drawn when sent to, not every 200 ms
	rows      int       // terminal height, 0 until asked (mirrorLinesLocked)

	// Totals over every file of the run: expected (expect; 0 unknown), finished
	// (done or already complete: their bytes) and failed.
	wantFiles   int
	wantBytes   int64
	doneFiles   int
	doneBytes   int64
	failFiles   int
	noSizeSeen  bool // a file of unknown size started: wantBytes means nothing
	interrupted bool // a file ended with context.Canceled
}

// getFile is the display state of one file in flight.
type getFile struct {
	name    string
	seq     int
	size    int64
	done    int64
	speed   float64
	start   time.Time
	bar     *mpb.Bar // nil when not shown (or not on a terminal)
	mirrors map[string]*mirrorLine
	order   []string
}

type mirrorLine struct {
	bar *mpb.Bar
	rep fetch.MirrorReport
}

func newGetUI(w io.Writer, mode string, quiet bool) *getUI {
	if mode == "auto" {
		mode = "plain"
		if isTerminal(w) && getTermWidth(w) > 0 {
			mode = "bar"
		}
	}
	return &getUI{w: w, mode: mode, quiet: quiet, files: map[string]*getFile{}}
}

// expect tells the total line how many files of how many bytes the run is to
// download (the selected files of the metalink; bytes < 0 when a size is unknown).
// Without it the total covers the files started so far.
func (u *getUI) expect(files int, bytes int64) {
	u.sm.Lock()
	defer u.sm.Unlock()
	u.wantFiles, u.wantBytes = files, bytes
}

func (u *getUI) event(ev fetch.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch ev.Kind {
	case fetch.EventWarning:
		if !u.quiet {
			u.printf("warning: %s: %s %s\n", ev.File, ev.Message, ev.Mirror)
		}
	case fetch.EventFileStart:
		if old := u.files[ev.File]; old != nil {
			u.endFileLocked(old, false, nil)
		}
		u.sm.Lock()
		u.seq++
		if u.begin.IsZero() {
			u.begin = time.Now()
		}
		// Done is what a resume found on disk.
		f := &getFile{name: ev.File, seq: u.seq, size: ev.Size, done: max(ev.Done, 0), start: time.Now(), mirrors: map[string]*mirrorLine{}}
		u.files[ev.File] = f
		u.live = append(u.live, f)
		if len(u.live) > 1 {
			u.multi = true
		}
		if ev.Size < 0 {
			u.noSizeSeen = true
		}
		u.sm.Unlock()
		if u.mode == "bar" {
			if u.p == nil {
				opts := []mpb.ContainerOption{mpb.WithConsoleWriter(newGetConsole(u.w)), mpb.WithRefreshRate(200 * time.Millisecond)}
				if u.refresh != nil {
					opts = append(opts, mpb.WithManualRefresh(u.refresh))
				}
				u.p = mpb.New(opts...)
			}
			if u.shownLocked() < getMaxShown {
				u.showLocked(f)
			}
			u.extrasLocked()
		} else if u.mode == "plain" {
			size := humanBytes(float64(ev.Size))
			if ev.Size < 0 {
				size = "size unknown"
			}
			u.printf("%s: %s, %d pieces\n", ev.File, size, ev.Pieces)
			if u.lastPlain.IsZero() {
				u.lastPlain = time.Now()
			}
		}
	case fetch.EventProgress:
		f := u.files[ev.File]
		if f == nil {
			return
		}
		// The last snapshot, taken after the final bytes, reads 0 B/s: keep the speeds seen.
		final := ev.Done == f.size && ev.Speed == 0
		u.sm.Lock()
		f.done = ev.Done
		if !final {
			f.speed = ev.Speed
		}
		var added []*mirrorLine
		for _, m := range ev.Mirrors {
			ml := f.mirrors[m.URL]
			if ml == nil {
				ml = &mirrorLine{}
				f.mirrors[m.URL] = ml
				f.order = append(f.order, m.URL)
				added = append(added, ml)
			}
			if final {
				m.Speed = ml.rep.Speed
			}
			ml.rep = m
		}
		u.sm.Unlock()
		if f.bar != nil {
			for _, k := range f.order {
				if ml := f.mirrors[k]; ml.bar == nil && slices.Contains(added, ml) {
					u.addMirrorLocked(f, k)
				}
			}
			u.setBarsLocked(f)
		}
		if u.mode == "plain" && time.Since(u.lastPlain) >= getPlainEvery {
			u.lastPlain = time.Now()
			u.plainLinesLocked()
		}
	case fetch.EventPieceBad:
		// In both modes: on a terminal the line lands above the bars.
		u.printf("%s: piece %d from %s failed its hash; fetching it elsewhere\n", ev.File, ev.Piece, ev.Mirror)
	case fetch.EventMirrorState:
		if u.mode == "plain" {
			u.printf("%s: mirror %s is now %s: %v\n", ev.File, ev.Mirror, ev.State, ev.Err)
		}
	case fetch.EventFileDone, fetch.EventFileFailed:
		ok := ev.Kind == fetch.EventFileDone
		f := u.files[ev.File]
		if !ok && errors.Is(ev.Err, context.Canceled) {
			// Interrupted: the bars of a file in flight stay as they are until close
			// draws the last frame; no line for each file.
			u.sm.Lock()
			u.interrupted = true
			u.sm.Unlock()
			return
		}
		if f == nil {
			// Never started: already complete, or failed its checks (the summary says so).
			u.sm.Lock()
			if ok {
				u.doneFiles++
				u.doneBytes += max(ev.Size, 0)
			} else {
				u.failFiles++
			}
			u.sm.Unlock()
			return
		}
		u.endFileLocked(f, ok, ev.Err)
	}
}

// shownLocked is the number of files in flight that have bars.
func (u *getUI) shownLocked() int {
	n := 0
	for _, f := range u.live {
		if f.bar != nil {
			n++
		}
	}
	return n
}

// showLocked gives f its file bar and the mirror lines known so far. The bars are
// made with total 0 and then given their size: mpb completes a bar made with its
// total when it reaches it, and a completed bar can no longer be dropped; these
// complete only when told (stopLocked).
func (u *getUI) showLocked(f *getFile) {
	f.bar = u.p.AddBar(0, mpb.BarWidth(40), mpb.BarPriority(f.seq*getPrioFile),
		mpb.PrependDecorators(decor.Name(getShorten(f.name, 28), decor.WCSyncSpaceR), decor.Percentage(decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			u.sm.Lock()
			defer u.sm.Unlock()
			return fmt.Sprintf("%10s/s  eta %s", humanBytes(f.speed), getFileETA(f.size, f.done, f.speed))
		})))
	f.bar.SetTotal(max(f.size, 1), false)
	for _, k := range f.order {
		u.addMirrorLocked(f, k)
	}
	u.setBarsLocked(f)
}

// mirrorLinesLocked is the most mirror lines a file gets: getMaxMirrorLines, or on a
// short terminal what lets getMaxShown files with their lines, the two extra lines
// and two lines of log fit, at least one.
func (u *getUI) mirrorLinesLocked() int {
	if u.rows == 0 {
		u.rows = 40
		if f, ok := u.w.(*os.File); ok {
			if _, h, err := term.GetSize(int(f.Fd())); err == nil && h > 0 {
				u.rows = h
			}
		}
	}
	return max(1, min(getMaxMirrorLines, (u.rows-4)/getMaxShown-1))
}

// addMirrorLocked adds the line of f's mirror k (while f has fewer than mirrorLinesLocked).
func (u *getUI) addMirrorLocked(f *getFile, k string) {
	n := 0
	for _, ml := range f.mirrors {
		if ml.bar != nil {
			n++
		}
	}
	if n >= u.mirrorLinesLocked() {
		return
	}
	ml := f.mirrors[k]
	ml.bar = u.p.AddBar(0, mpb.BarWidth(20), mpb.BarPriority(f.seq*getPrioFile+1+n),
		mpb.PrependDecorators(decor.Name("  "+getShorten(getHostOf(k), 26), decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			u.sm.Lock()
			defer u.sm.Unlock()
			return fmt.Sprintf("%10s/s  %-11s bad %d err %d", humanBytes(ml.rep.Speed), ml.rep.State, ml.rep.BadPieces, ml.rep.Errors)
		})))
	ml.bar.SetTotal(max(f.size, 1), false)
}

// setBarsLocked moves f's bars to its current numbers.
func (u *getUI) setBarsLocked(f *getFile) {
	u.sm.Lock()
	done := f.done
	goods := make([]int64, len(f.order))
	for i, k := range f.order {
		goods[i] = f.mirrors[k].rep.Good
	}
	u.sm.Unlock()
	for i, k := range f.order {
		if b := f.mirrors[k].bar; b != nil {
			b.SetCurrent(min(goods[i], f.size))
		}
	}
	if f.size < 0 {
		f.bar.SetTotal(max(done, 1), false) // size unknown: full, growing
	}
	f.bar.SetCurrent(done)
}

// extrasLocked adds the total line once two files were in flight at once, and adds or
// removes the "+N more files" line.
func (u *getUI) extrasLocked() {
	u.sm.Lock()
	u.hidden = len(u.live) - u.shownLocked()
	hidden, multi := u.hidden, u.multi
	u.sm.Unlock()
	if u.p == nil {
		return
	}
	if multi && u.totalBar == nil {
		u.totalBar = u.p.New(1, mpb.NopStyle(), mpb.BarPriority(getPrioTotal),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
				u.sm.Lock()
				defer u.sm.Unlock()
				return u.totalLineLocked(false)
			})))
	}
	switch {
	case hidden > 0 && u.moreBar == nil:
		u.moreBar = u.p.New(1, mpb.NopStyle(), mpb.BarPriority(getPrioMore),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
				u.sm.Lock()
				defer u.sm.Unlock()
				if u.hidden == 1 {
					return "  +1 more file in flight"
				}
				return fmt.Sprintf("  +%d more files in flight", u.hidden)
			})))
	case hidden == 0 && u.moreBar != nil:
		u.moreBar.Abort(true)
		u.moreBar = nil
	}
}

// totalLineLocked describes all files: finished and expected, bytes done of all,
// the total speed and the time left. plain is the form of the plain lines.
func (u *getUI) totalLineLocked(plain bool) string {
	files := max(u.wantFiles, u.doneFiles+u.failFiles+len(u.live))
	failed := ""
	if u.failFiles > 0 {
		failed = fmt.Sprintf(", %d failed", u.failFiles)
	}
	done, total, speed := u.doneBytes, u.doneBytes, 0.0
	for _, f := range u.live {
		done += f.done
		total += max(f.size, 0)
		speed += f.speed
	}
	if u.wantBytes > 0 && !u.noSizeSeen {
		total = max(u.wantBytes, done)
	}
	if u.interrupted {
		if plain {
			return fmt.Sprintf("total: %d of %d files done%s, %s of %s, interrupted", u.doneFiles, files, failed, humanBytes(float64(done)), humanBytes(float64(total)))
		}
		return fmt.Sprintf("total  %d/%d files done%s  %s / %s  interrupted", u.doneFiles, files, failed, humanBytes(float64(done)), humanBytes(float64(total)))
	}
	if len(u.live) == 0 && !u.begin.IsZero() {
		// The last frame: what was done, in how long.
		if plain {
			return fmt.Sprintf("total: %d of %d files done%s, %s in %s", u.doneFiles, files, failed, humanBytes(float64(done)), getSince(u.begin))
		}
		return fmt.Sprintf("total  %d/%d files done%s  %s in %s", u.doneFiles, files, failed, humanBytes(float64(done)), getSince(u.begin))
	}
	eta := "--"
	if speed > 0 && !u.noSizeSeen {
		eta = getETA(float64(total-done) / speed)
	}
	if plain {
		return fmt.Sprintf("total: %d of %d files done%s, %d in flight, %s of %s, %s/s, eta %s",
			u.doneFiles, files, failed, len(u.live), humanBytes(float64(done)), humanBytes(float64(total)), humanBytes(speed), eta)
	}
	return fmt.Sprintf("total  %d/%d files done%s  %s / %s  %s/s  eta %s",
		u.doneFiles, files, failed, humanBytes(float64(done)), humanBytes(float64(total)), humanBytes(speed), eta)
}

// plainLinesLocked prints one line per file in flight, and the total line when
// several are.
func (u *getUI) plainLinesLocked() {
	u.sm.Lock()
	var lines []string
	for _, f := range u.live {
		var parts []string
		for _, k := range f.order {
			r := f.mirrors[k].rep
			parts = append(parts, fmt.Sprintf("%s %s/s %s", getHostOf(k), humanBytes(r.Speed), r.State))
		}
		pct := 100.0
		if f.size > 0 {
			pct = 100 * float64(f.done) / float64(f.size)
		}
		lines = append(lines, fmt.Sprintf("%s: %5.1f%% %s/s eta %s | %s\n", f.name, pct, humanBytes(f.speed), getFileETA(f.size, f.done, f.speed), strings.Join(parts, ", ")))
	}
	if len(u.live) > 1 {
		lines = append(lines, u.totalLineLocked(true)+"\n")
	}
	u.sm.Unlock()
	for _, l := range lines {
		u.printf("%s", l)
	}
}

// getSince is the time since t to a tenth of a second.
func getSince(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// getFileETA is the time left of a file of size bytes with done of them, or "--".
func getFileETA(size, done int64, speed float64) string {
	if speed <= 0 || size <= 0 {
		return "--"
	}
	return getETA(float64(size-done) / speed)
}

// endFileLocked ends f: it leaves the files in flight and counts as finished (ok) or
// failed. When other files are in flight its bars go and a line about it is printed
// above theirs (a hidden file gets its place); when it was the last, its bars are
// completed (ok) or aborted in place and the live display ends with that frame.
func (u *getUI) endFileLocked(f *getFile, ok bool, err error) {
	u.sm.Lock()
	u.live = slices.DeleteFunc(u.live, func(g *getFile) bool { return g == f })
	if u.files[f.name] == f {
		delete(u.files, f.name)
	}
	if ok {
		u.doneFiles++
		u.doneBytes += max(f.size, f.done)
		f.done = max(f.size, f.done)
	} else {
		u.failFiles++
		if u.wantBytes > 0 {
			u.wantBytes -= max(f.size, 0)
		}
	}
	last := len(u.live) == 0
	line := fmt.Sprintf("%s: finished, %s in %s\n", f.name, humanBytes(float64(f.size)), getSince(f.start))
	if f.size < 0 {
		line = fmt.Sprintf("%s: finished in %s\n", f.name, getSince(f.start))
	}
	if !ok {
		line = fmt.Sprintf("%s: failed\n", f.name)
		if err != nil {
			line = fmt.Sprintf("%s: failed: %v\n", f.name, err)
		}
	}
	// One file alone: its summary line follows at once, a "finished" line would
	// only say the same thing twice.
	single := ok && !u.multi && max(u.wantFiles, u.doneFiles+u.failFiles) <= 1
	u.sm.Unlock()
	if u.mode == "plain" {
		if !single {
			u.printf("%s", line)
		}
		return
	}
	if u.p == nil {
		return
	}
	if last {
		if f.bar != nil && ok {
			u.setBarsLocked(f)
		}
		u.stopLocked(f, ok)
		return
	}
	// mpb draws a dropped bar once more, as it was, then no more.
	for _, b := range f.bars() {
		b.Abort(true)
	}
	f.bar = nil
	u.printf("%s", line)
	for _, g := range u.live {
		if g.bar == nil {
			u.showLocked(g)
			break
		}
	}
	u.extrasLocked()
}

// bars are f's file bar and mirror lines (none when not shown).
func (f *getFile) bars() []*mpb.Bar {
	if f.bar == nil {
		return nil
	}
	bars := []*mpb.Bar{f.bar}
	for _, k := range f.order {
		if b := f.mirrors[k].bar; b != nil {
			bars = append(bars, b)
		}
	}
	return bars
}

// stopLocked ends the live display, leaving its last frame on the screen: f's file
// bar completes when ok (its mirror lines keep their share), every other bar of a
// file still in flight (an interrupted run) is aborted where it is, the total line
// stays, the "+N more" line goes. It waits for mpb to draw that frame (its
// decorators take only u.sm, never u.mu).
func (u *getUI) stopLocked(f *getFile, ok bool) {
	p := u.p
	if f != nil && f.bar != nil && ok {
		f.bar.SetTotal(-1, true)
	}
	for _, g := range append([]*getFile{f}, u.live...) {
		if g == nil {
			continue
		}
		for _, b := range g.bars() {
			b.Abort(false)
		}
		g.bar = nil
	}
	if u.moreBar != nil {
		u.moreBar.Abort(true)
	}
	if u.totalBar != nil {
		u.totalBar.SetTotal(-1, true)
	}
	u.p, u.totalBar, u.moreBar = nil, nil, nil
	p.Wait()
}

func (u *getUI) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.p != nil {
		u.stopLocked(nil, false)
	}
}

// getETA formats a number of seconds left: "<1s", "42s", "3m5s", "2h10m0s".
func getETA(secs float64) string {
	if secs < 0.5 {
		return "<1s"
	}
	return time.Duration(min(secs, 1e6) * float64(time.Second)).Round(time.Second).String()
}

// getConsole is the terminal writer of the bars. Each frame is written in one
// write: a carriage return, cursor up over the previous frame, erase to the end
// of the screen, lines printed above the bars, then the bars. The carriage
// return matters: text the terminal itself echoes (^C on Ctrl-C, keys typed
// during the download) leaves the cursor off column 0, and mpb's own writer
// would then redraw the top line from that column, leaving the start of the
// previous frame in front of it ("bibig.bin").
type getConsole struct {
	buf bytes.Buffer
	out io.Writer
	fd  int
}

func newGetConsole(w io.Writer) *getConsole {
	c := &getConsole{out: w, fd: -1}
	if f, ok := w.(*os.File); ok {
		c.fd = int(f.Fd())
	}
	return c
}

func (c *getConsole) Write(p []byte) (int, error)         { return c.buf.Write(p) }
func (c *getConsole) ReadFrom(r io.Reader) (int64, error) { return c.buf.ReadFrom(r) }

// IsTerminal is true: the bars are only drawn on a terminal (newGetUI decides).
func (c *getConsole) IsTerminal() bool { return true }

// GetTermSize is the terminal's size (mpb fits the lines to its width), 100x40
// when unknown (--progress bar on something that is not a terminal).
func (c *getConsole) GetTermSize() (int, int, error) {
	if c.fd >= 0 {
		if w, h, err := term.GetSize(c.fd); err == nil && w > 0 && h > 0 {
			return w, h, nil
		}
	}
	return 100, 40, nil
}

// Flush writes the frame, then queues the escape that takes the cursor back to
// the first of its lines (written with the next frame, before anything printed
// above the bars meanwhile).
func (c *getConsole) Flush(lines int) error {
	_, err := c.out.Write(c.buf.Bytes())
	c.buf.Reset()
	if lines > 0 {
		fmt.Fprintf(&c.buf, "\r\x1b[%dA\x1b[J", lines)
	}
	return err
}

// Write prints p above the live bars, or straight to the output when none are
// drawn. Anything else written to the terminal while the bars are live (a logger
// writing to stderr itself) would shift the lines under them and leave a stale
// copy of the top bar behind, so the logger of a get should write here.
func (u *getUI) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.p != nil {
		if n, err := u.p.Write(p); err == nil {
			return n, nil
		}
	}
	return u.w.Write(p)
}

// logger returns a logger with l's level (debug, info or warn) that writes through
// u, so that its lines land above the live bars; nil stays nil. runGet should pass
// fetch the result: opts.Logger = ui.logger(opts.Logger).
func (u *getUI) logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	level := slog.LevelWarn
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		if l.Enabled(context.Background(), lv) {
			level = lv
			break
		}
	}
	return slog.New(slog.NewTextHandler(u, &slog.HandlerOptions{Level: level}))
}

func (u *getUI) printf(format string, a ...any) {
	if u.mode == "none" && !strings.HasPrefix(format, "warning") {
		return
	}
	if u.p != nil {
		fmt.Fprintf(u.p, format, a...)
		return
	}
	fmt.Fprintf(u.w, format, a...)
}

func getHostOf(raw string) string {
	if pu, err := url.Parse(raw); err == nil && pu.Host != "" {
		return pu.Host
	}
	return raw
}

func getShorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// getTimes is "once", "twice" or "N times".
func getTimes(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// getSelected counts the files of a metalink that a get with these --select globs
// downloads, and their total size (-1 when one size is unknown).
func getSelected(files []metalink.File, globs []string) (n int, bytes int64) {
	sel, err := fetch.Select(files, globs)
	if err != nil {
		return 0, 0
	}
	for _, f := range sel {
		if f.Size < 0 || bytes < 0 {
			bytes = -1
		} else {
			bytes += f.Size
		}
	}
	return len(sel), bytes
}

// getCountFlag is an int flag that must not be negative (a usage error at parsing).
type getCountFlag struct{ p *int }

func (c getCountFlag) String() string {
	if c.p == nil {
		return "0"
	}
	return strconv.Itoa(*c.p)
}

func (c getCountFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("want a count of 0 or more, not %q", s)
	}
	*c.p = n
	return nil
}

func (c getCountFlag) Type() string { return "int" }
