package migrate

import (
	"context"
	"fmt"
	"sync"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// DefaultDiskBudget bounds the blob bytes a migration keeps in its state
// dir at once (--disk-budget). Once the new PDS confirms a blob its local
// copy goes, so disk use follows this window, not the account's size. The
// prefetch that overlaps downloads with the import is what fills it; `make
// bench` measured no slowdown on M and L (31 and 105 MB of blobs) at this
// size, and XL (528 MB) peaks at about this much.
const DefaultDiskBudget = 256 << 20

// diskBudget counts the blob bytes on disk. Only the prefetcher waits for
// room: upload workers must get the blob they are about to upload, so
// their own downloads always go ahead (that is the floor a run needs:
// --blob-concurrency blobs in flight, checked against the free space at start).
type diskBudget struct {
	limit int64

	mu      sync.Mutex
	used    int64
	held    map[string]int64 // bytes each stored blob counts for
	changed chan struct{}    // closed and replaced at every release
	peak    int64
}

func newDiskBudget(limit int64) *diskBudget {
	return &diskBudget{limit: limit, held: map[string]int64{}, changed: make(chan struct{})}
}

// add counts a blob now on disk.
func (b *diskBudget) add(cid string, n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.held[cid]; ok {
		return
	}
	b.held[cid] = n
	b.used += n
	b.peak = max(b.peak, b.used)
}

// remove forgets a blob whose file is gone.
func (b *diskBudget) remove(cid string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.held[cid]
	if !ok {
		return
	}
	delete(b.held, cid)
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
}

// waitRoom blocks until n more bytes fit (or nothing is held: a blob
// larger than the whole budget still goes, alone).
func (b *diskBudget) waitRoom(ctx context.Context, n int64) error {
	if b == nil {
		return nil
	}
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Peak is the most blob bytes counted at once.
func (b *diskBudget) Peak() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// checkDiskRoom refuses, before anything is written to the new PDS, a
// state dir whose disk cannot hold even the blobs the upload workers need
// at once. Above that floor the prefetch window shrinks to what is free.
func (m *Migrator) checkDiskRoom() error {
	free, ok := fsutil.FreeBytes(m.dir)
	floor := m.diskFloor()
	if !ok || free >= floor {
		return nil
	}
	msg := fmt.Sprintf("the disk holding %s has %.1f MB free; the blob copy needs %.1f MB there at once (--blob-concurrency %d of the largest blobs)",
		m.dir, units.MB(free), units.MB(floor), m.opts.Concurrency)
	hint := "free some space there, or pass --state-dir on a larger disk (a lower --blob-concurrency needs less), then run the same command again"
	if m.st.BoundToTarget() {
		return &failure.StageError{Stage: stage.ExportRepo, Err: fmt.Errorf("%s", msg), Hint: hint}
	}
	return &failure.InputError{Msg: msg, Hint: hint + "; nothing was written to the new PDS"}
}
