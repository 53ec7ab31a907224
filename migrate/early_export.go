package migrate

import (
	"context"
	"os"
	"sync"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// earlyExport downloads and verifies the repo in the background from the
// moment the DID's signing keys are known, before the login: sync.getRepo is
// public, and the old PDS checks the password (scrypt, about a third of a
// second on the reference PDS) off its main thread, so the export costs no
// wall time until then. The export stage takes its result, or exports
// again itself if it failed (a deactivated account, say, can only be read
// with the session).
type earlyExport struct {
	cancel context.CancelFunc
	done   chan struct{}
	prog   *heldProgress
	sum    *repo.Summary
	err    error
}

// startEarlyExport begins the background export when the export stage will
// need one: a PDS source, no verified copy on disk yet, and a DID that does
// not already point at the new PDS.
func (m *Migrator) startEarlyExport(ctx context.Context) {
	if m.early != nil || m.opts.FromBackup != "" || identity.PointsAt(m.plcState, m.newEndpoint()) {
		return
	}
	carPath := m.path("repo.car")
	if m.st.Done(stage.ExportRepo) && fsutil.Exists(carPath) {
		return
	}
	vo, _, err := m.repoVerifyOptions(false)
	if err != nil {
		return // the export stage reports it
	}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return
	}
	ectx, cancel := context.WithCancel(ctx)
	e := &earlyExport{cancel: cancel, done: make(chan struct{}), prog: &heldProgress{Progress: m.prog}}
	src := &pdsSource{c: m.srv.PDS(m.st.OldPDS, nil), did: m.did}
	go func() {
		defer close(e.done)
		e.sum, e.err = exportAndVerifyFrom(ectx, src, e.prog, "", carPath, vo)
	}()
	m.early = e
}

// takeEarlyExport waits for the background export, if one ran, and returns
// its result; ok is false when there was none or it failed.
func (m *Migrator) takeEarlyExport(ctx context.Context) (sum *repo.Summary, ok bool, err error) {
	e := m.early
	if e == nil {
		return nil, false, nil
	}
	m.early = nil
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

// stopEarlyExport abandons a background export nobody took (a failed
// login, say) and waits for it to let go of its files.
func (m *Migrator) stopEarlyExport() {
	if e := m.early; e != nil {
		m.early = nil
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
