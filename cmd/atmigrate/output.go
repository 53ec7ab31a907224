package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// output implements ui.Progress for the terminal: bars for the repo
// and the blobs when stderr is a terminal, one plain line per event
// otherwise (logs, CI, pipes).
type output struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	n     int
	bars  map[ui.TransferKind]*progressbar.ProgressBar
	count map[ui.TransferKind]*transferCount
	start map[stage.Stage]time.Time
}

type transferCount struct {
	items, total int
	bytes, size  int64
}

func newOutput(w *os.File) *output {
	return &output{
		w: w, tty: isTerminal(w),
		bars:  map[ui.TransferKind]*progressbar.ProgressBar{},
		count: map[ui.TransferKind]*transferCount{},
		start: map[stage.Stage]time.Time{},
	}
}

func (o *output) printf(format string, args ...any) {
	o.clearBars()
	fmt.Fprintf(o.w, format, args...)
}

func (o *output) StageStart(s stage.Stage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n = stageIndex(s)
	o.start[s] = time.Now()
	o.printf("[%2d/%d] %s: %s\n", o.n, len(stage.All), s, s.Description())
}

func (o *output) StageDone(s stage.Stage, note string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finishBars()
	o.printf("        done in %s: %s\n", time.Since(o.start[s]).Round(10*time.Millisecond), say(note))
}

func (o *output) StageSkip(s stage.Stage, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.printf("        skipped: %s\n", say(reason))
}

func (o *output) Transfer(kind ui.TransferKind, count int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.count[kind] = &transferCount{total: count, size: bytes}
	if !o.tty {
		return
	}
	desc := string(kind)
	if count > 1 {
		desc = fmt.Sprintf("%s (%d)", kind, count)
	}
	o.bars[kind] = progressbar.NewOptions64(bytes,
		progressbar.OptionSetWriter(o.w),
		progressbar.OptionSetDescription("        "+desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)
}

func (o *output) Advance(kind ui.TransferKind, items int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.count[kind]
	if c == nil {
		return
	}
	c.items += items
	c.bytes += bytes
	if b := o.bars[kind]; b != nil {
		if bytes > 0 {
			_ = b.Add64(bytes)
		} else if bytes < 0 {
			_ = b.Set64(c.bytes)
		}
		if items > 0 && c.total > 1 {
			b.Describe(fmt.Sprintf("        %s %d/%d", kind, c.items, c.total))
		}
	}
	if !o.tty && items > 0 && c.items == c.total {
		fmt.Fprintf(o.w, "        %s: %d/%d, %.1f MB\n", kind, c.items, c.total, float64(c.bytes)/1e6)
	}
}

func (o *output) Retry(host, method string, attempt int, wait time.Duration, err error, rateLimited bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if rateLimited {
		o.printf("        rate limited by %s (%s): waiting %s as it asks\n", host, method, wait.Round(time.Second))
		return
	}
	o.printf("        %s at %s failed (attempt %d): %v; retrying in %s\n", method, host, attempt, err, wait.Round(10*time.Millisecond))
}

func (o *output) Info(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.printf("        %s\n", say(msg))
}

func (o *output) Warn(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.printf("        warning: %s\n", say(msg))
}

// clearBars wipes the bars' line before a message is printed over it.
func (o *output) clearBars() {
	for _, b := range o.bars {
		_ = b.Clear()
	}
}

func (o *output) finishBars() {
	for k, b := range o.bars {
		_ = b.Finish()
		delete(o.bars, k)
	}
}

// pause and resume bracket a prompt so no bar redraws over it.
func (o *output) pause() {
	o.mu.Lock()
	o.finishBars()
}

func (o *output) resume() { o.mu.Unlock() }

// Close finishes any bar still drawn.
func (o *output) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finishBars()
}

func stageIndex(s stage.Stage) int {
	for i, x := range stage.All {
		if x == s {
			return i + 1
		}
	}
	return 0
}
