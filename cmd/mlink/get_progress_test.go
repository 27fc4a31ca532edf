package main

import (
	"bytes"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mlinkdev/mlink/fetch"
)

// lockedBuffer is a bytes.Buffer safe for mpb's goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestGetUIBarFrames drives the bar display with events and checks the bytes it
// writes: every redraw returns to column 0 before moving up (so an echoed ^C
// cannot shift it), a line written through the UI lands above the bars, and the
// last frame shows the finished file. The terminal view is in tmux_test.go.
func TestGetUIBarFrames(t *testing.T) {
	var out lockedBuffer
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
