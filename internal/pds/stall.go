package pds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// errStalled marks a body transfer that made no progress for the stall
// timeout. There is no overall request timeout (it would cut long
// streams), so this is what unsticks a connection that went silent.
var errStalled = errors.New("transfer stalled")

// watchdog calls fire when it is armed and not kicked for d.
type watchdog struct {
	mu    sync.Mutex
	d     time.Duration
	timer *time.Timer
	fire  func()
}

func newWatchdog(d time.Duration, fire func()) *watchdog {
	return &watchdog{d: d, fire: fire}
}

// kick (re)arms the watchdog for another d.
func (w *watchdog) kick() {
	if w == nil || w.d <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil {
		w.timer = time.AfterFunc(w.d, w.fire)
		return
	}
	w.timer.Reset(w.d)
}

// pause disarms it until the next kick.
func (w *watchdog) pause() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

// kickReader kicks the watchdog on every read of a response body, and
// turns the cancellation a stall causes into errStalled so that handlers
// (and FetchBlob callbacks) see a transient error, not context.Canceled.
type kickReader struct {
	io.ReadCloser
	wd  *watchdog
	ctx context.Context
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.ReadCloser.Read(p)
	if err != nil && err != io.EOF && errors.Is(context.Cause(k.ctx), errStalled) {
		return n, fmt.Errorf("read body: %w", errStalled)
	}
	k.wd.kick()
	return n, err
}
