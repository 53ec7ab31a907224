package transfer

import (
	"context"
	"sync"

	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// Early is a download of the repo that runs in the background from the
// moment the DID's signing keys are known, before the login: sync.getRepo
// is public, and the old PDS checks the password (scrypt, about a third of
// a second on the reference PDS) off its main thread, so the export costs
// no wall time until then. The export stage takes its result, or exports
// again itself if it failed (a deactivated account, say, can only be read
// with the session).
type Early struct {
	cancel context.CancelFunc
	done   chan struct{}
	prog   *heldProgress
	sum    *repo.Summary
	err    error
}

// StartEarly begins the background download of src's repo to path,
// verified with vo. Its progress is held back until Take.
func StartEarly(ctx context.Context, src Source, prog ui.Progress, path string, vo repo.VerifyOptions) *Early {
	ectx, cancel := context.WithCancel(ctx)
	e := &Early{cancel: cancel, done: make(chan struct{}), prog: &heldProgress{Progress: prog}}
	go func() {
		defer close(e.done)
		e.sum, e.err = ExportAndVerify(ectx, src, e.prog, "", path, vo)
	}()
	return e
}

// Take waits for the background download and returns its result; ok is
// false when it failed (the caller downloads again itself). A nil Early
// took nothing.
func (e *Early) Take(ctx context.Context) (sum *repo.Summary, ok bool, err error) {
	if e == nil {
		return nil, false, nil
	}
	e.prog.release()
	select {
	case <-e.done:
	case <-ctx.Done():
		e.cancel()
		<-e.done
		return nil, false, ctx.Err()
	}
	e.cancel()
	if e.err != nil {
		return nil, false, nil
	}
	return e.sum, true, nil
}

// Stop abandons a download nobody took (a failed login, say) and waits
// for it to let go of its files.
func (e *Early) Stop() {
	if e != nil {
		e.cancel()
		<-e.done
	}
}

// heldProgress holds back a background transfer's progress until its stage
// starts, then passes it on, so its bar does not show up under another
// stage. Everything but Transfer and Advance goes straight through.
type heldProgress struct {
	ui.Progress
	mu        sync.Mutex
	released  bool
	announced bool
	kind      ui.TransferKind
	count     int
	total     int64
	items     int
	bytes     int64
}

func (h *heldProgress) Transfer(kind ui.TransferKind, count int, bytes int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		h.Progress.Transfer(kind, count, bytes)
		return
	}
	h.announced, h.kind, h.count, h.total = true, kind, count, bytes
	h.items, h.bytes = 0, 0
}

func (h *heldProgress) Advance(kind ui.TransferKind, items int, bytes int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		h.Progress.Advance(kind, items, bytes)
		return
	}
	h.items += items
	h.bytes += bytes
}

// release passes on what was held and everything from now on.
func (h *heldProgress) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
	if h.announced {
		h.Progress.Transfer(h.kind, h.count, h.total)
		if h.items != 0 || h.bytes != 0 {
			h.Progress.Advance(h.kind, h.items, h.bytes)
		}
	}
}
