package transfer

import (
	"context"
	"slices"
	"sync"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/repo"
)

// DefaultConcurrency is the number of blob transfers at once (uploads, and
// the fetches back of verify) when the options do not say. The reference
// PDS is single-threaded Node: past a handful of parallel uploads it only
// queues them, and `make bench` measured the bare copy 5% faster at 4
// than at 8 (20,000 records, 1,000 blobs: 6.0 s against 6.4 s). Over a
// long-latency link more may help.
const DefaultConcurrency = 4

// ConcurrencyOr is n, or DefaultConcurrency when n is not positive.
func ConcurrencyOr(n int) int {
	if n <= 0 {
		return DefaultConcurrency
	}
	return n
}

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

// DiskFloor is what the upload workers need on disk at once, whatever the
// budget: concurrency of the largest blobs of refs in flight.
func DiskFloor(refs []repo.BlobRef, concurrency int) int64 {
	sizes := make([]int64, 0, len(refs))
	for _, b := range refs {
		sizes = append(sizes, b.Size)
	}
	slices.Sort(sizes)
	var n int64
	for i := len(sizes) - 1; i >= 0 && i >= len(sizes)-concurrency; i-- {
		n += max(sizes[i], 0)
	}
	return n
}

// DiskWindow is how many blob bytes the prefetch may keep on disk in dir:
// the budget, shrunk to what the disk has free beyond the uploads' floor.
func DiskWindow(dir string, budget, floor int64) int64 {
	window := budget
	if free, ok := fsutil.FreeBytes(dir); ok {
		window = min(window, free-floor)
	}
	return max(window, 0)
}
