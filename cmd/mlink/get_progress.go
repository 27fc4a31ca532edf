package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/mlinkdev/mlink/fetch"
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

// getUI shows fetch events: a live mpb bar on a terminal, plain lines every few
// seconds otherwise, nothing with --quiet (warnings excepted unless quiet).
type getUI struct {
	w     io.Writer
	mode  string // bar, plain, none
	quiet bool

	mu        sync.Mutex // guards everything below; never taken by mpb decorators
	sm        sync.Mutex // guards speed, done, size and mirrorLine.rep for the decorators
	p         *mpb.Progress
	fileBar   *mpb.Bar
	file      string
	size      int64
	speed     float64
	done      int64
	mirrors   map[string]*mirrorLine
	order     []string
	lastPlain time.Time
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
	return &getUI{w: w, mode: mode, quiet: quiet}
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
		u.endFileLocked(false)
		u.sm.Lock()
		u.file, u.size, u.done, u.speed = ev.File, ev.Size, 0, 0
		u.sm.Unlock()
		u.mirrors, u.order = map[string]*mirrorLine{}, nil
		if u.mode == "bar" {
			u.p = mpb.New(mpb.WithConsoleWriter(newGetConsole(u.w)), mpb.WithRefreshRate(200*time.Millisecond))
			u.fileBar = u.p.AddBar(max(ev.Size, 1), mpb.BarWidth(40),
				mpb.PrependDecorators(decor.Name(getShorten(ev.File, 28), decor.WCSyncSpaceR), decor.Percentage(decor.WCSyncSpace)),
				mpb.AppendDecorators(decor.Any(u.totalDecor)))
		} else if u.mode == "plain" {
			u.printf("%s: %s, %d pieces\n", ev.File, humanBytes(float64(ev.Size)), ev.Pieces)
			u.lastPlain = time.Now()
		}
	case fetch.EventProgress:
		// The last snapshot, taken after the final bytes, reads 0 B/s: keep the speeds seen.
		final := ev.Done == u.size && ev.Speed == 0
		u.sm.Lock()
		u.done = ev.Done
		if !final {
			u.speed = ev.Speed
		}
		u.sm.Unlock()
		for _, m := range ev.Mirrors {
			ml := u.mirrors[m.URL]
			if ml == nil {
				ml = &mirrorLine{}
				u.mirrors[m.URL] = ml
				u.order = append(u.order, m.URL)
				if u.p != nil {
					name := getHostOf(m.URL)
					ml.bar = u.p.AddBar(max(u.size, 1), mpb.BarWidth(20),
						mpb.PrependDecorators(decor.Name("  "+getShorten(name, 26), decor.WCSyncSpaceR)),
						mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
							u.sm.Lock()
							defer u.sm.Unlock()
							return fmt.Sprintf("%10s/s  %-11s bad %d err %d", humanBytes(ml.rep.Speed), ml.rep.State, ml.rep.BadPieces, ml.rep.Errors)
						})))
				}
			}
			u.sm.Lock()
			if final {
				m.Speed = ml.rep.Speed
			}
			ml.rep = m
			u.sm.Unlock()
			if ml.bar != nil {
				ml.bar.SetCurrent(min(m.Good, u.size))
			}
		}
		if u.fileBar != nil {
			u.fileBar.SetCurrent(ev.Done)
		}
		if u.mode == "plain" && time.Since(u.lastPlain) >= 2*time.Second {
			u.lastPlain = time.Now()
			var parts []string
			for _, k := range u.order {
				r := u.mirrors[k].rep
				parts = append(parts, fmt.Sprintf("%s %s/s %s", getHostOf(k), humanBytes(r.Speed), r.State))
			}
			pct := 100.0
			if u.size > 0 {
				pct = 100 * float64(ev.Done) / float64(u.size)
			}
			u.printf("%s: %5.1f%% %s/s eta %s | %s\n", u.file, pct, humanBytes(ev.Speed), u.etaLocked(), strings.Join(parts, ", "))
		}
	case fetch.EventPieceBad:
		if u.mode == "plain" {
			u.printf("%s: piece %d from %s failed its hash; fetching it elsewhere\n", ev.File, ev.Piece, ev.Mirror)
		}
	case fetch.EventMirrorState:
		if u.mode == "plain" {
			u.printf("%s: mirror %s is now %s: %v\n", ev.File, ev.Mirror, ev.State, ev.Err)
		}
	case fetch.EventFileDone:
		u.endFileLocked(true)
	case fetch.EventFileFailed:
		u.endFileLocked(false)
	}
}

func (u *getUI) totalDecor(decor.Statistics) string {
	u.sm.Lock()
	defer u.sm.Unlock()
	return fmt.Sprintf("%10s/s  eta %s", humanBytes(u.speed), u.etaLocked())
}

func (u *getUI) etaLocked() string {
	if u.speed <= 0 || u.size <= 0 {
		return "--"
	}
	return getETA(float64(u.size-u.done) / u.speed)
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

// endFileLocked completes or aborts the bars of the current file and waits for mpb
// to render them (its decorators take only u.sm, never u.mu).
func (u *getUI) endFileLocked(ok bool) {
	if u.p == nil {
		return
	}
	p := u.p
	bars := []*mpb.Bar{u.fileBar}
	for _, k := range u.order {
		if b := u.mirrors[k].bar; b != nil {
			bars = append(bars, b)
		}
	}
	u.p, u.fileBar = nil, nil
	for i, b := range bars {
		if ok && i == 0 {
			b.SetTotal(-1, true) // the file bar completes; mirror bars keep their share
		} else {
			b.Abort(false)
		}
	}
	p.Wait()
}

func (u *getUI) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.endFileLocked(false)
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
