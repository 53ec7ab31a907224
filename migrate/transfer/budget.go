package transfer

import (
	"context"
	"math"
	"slices"
	"sync"

	"github.com/atmigrate/atmigrate/internal/diskuse"
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

// diskBudget counts the blob bytes on disk and decides which download may
// go when. Two bounds, both shrunk by a full disk (diskFull):
//   - window bounds the blobs the prefetcher keeps ahead of the uploads;
//   - room bounds every blob of the run on the disk, the upload workers'
//     included: past it a worker makes room by dropping blobs fetched
//     ahead (evict), or waits until an upload frees some.
//
// Blobs an upload worker is using are pinned and never dropped.
type diskBudget struct {
	mu      sync.Mutex
	window  int64
	room    int64
	used    int64            // stored blobs
	loading int64            // downloads under way (their temp files)
	held    map[string]int64 // bytes each stored blob counts for
	order   map[string]int64 // when each was stored: the latest is dropped first
	seq     int64
	pinned  map[string]int
	changed chan struct{} // closed and replaced at every change
	peak    int64
	shrunk  int   // full disks met
	admits  int64 // downloads begun

	// drop deletes a stored blob's file; nil when copies are kept
	// (--keep-data): nothing may be dropped, nothing frees room.
	drop func(cid string) error
}

func newDiskBudget(window int64) *diskBudget {
	return &diskBudget{window: window, room: math.MaxInt64, held: map[string]int64{}, order: map[string]int64{},
		pinned: map[string]int{}, changed: make(chan struct{})}
}

// signal wakes every waiter; the caller holds mu.
func (b *diskBudget) signal() {
	close(b.changed)
	b.changed = make(chan struct{})
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
	b.seq++
	b.held[cid], b.order[cid] = n, b.seq
	b.used += n
	b.peak = max(b.peak, b.used)
	b.signal()
}

// remove forgets a blob whose file is gone.
func (b *diskBudget) remove(cid string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.forget(cid)
}

func (b *diskBudget) forget(cid string) {
	n, ok := b.held[cid]
	if !ok {
		return
	}
	delete(b.held, cid)
	delete(b.order, cid)
	b.used -= n
	b.signal()
}

// pin keeps cid from being dropped while an upload worker uses it; the
// returned func lets go.
func (b *diskBudget) pin(cid string) func() {
	if b == nil {
		return func() {}
	}
	b.mu.Lock()
	b.pinned[cid]++
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.pinned[cid]--; b.pinned[cid] <= 0 {
			delete(b.pinned, cid)
		}
		b.signal()
	}
}

// waitRoom blocks the prefetcher until n more bytes fit in the window (or
// nothing is held or loading: a blob larger than the whole window still
// goes, alone).
func (b *diskBudget) waitRoom(ctx context.Context, n int64) error {
	if b == nil {
		return nil
	}
	for {
		b.mu.Lock()
		busy := b.used + b.loading
		if busy == 0 || busy+n <= b.window {
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

// load is one admitted download.
type load struct {
	n int64
	// alone: nothing else of the run's was on the disk or loading when
	// it began; seq tells whether another download began since.
	alone bool
	seq   int64
}

// admit counts a download of n bytes about to start; done ends it. An
// upload worker's download (ahead false) that would pass the room first
// drops blobs fetched ahead, then waits for uploads to free room; it goes
// anyway when nothing could free any (the disk then says whether it
// fits). The prefetcher's downloads waited in waitRoom.
func (b *diskBudget) admit(ctx context.Context, cid string, n int64, ahead bool) (*load, error) {
	if b == nil {
		return nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// A blob being downloaded is not in the store: a count of it is
	// stale (its copy went between a check and the count), and would
	// make a worker wait on itself.
	b.forget(cid)
	for !ahead {
		busy := b.used + b.loading
		if busy == 0 || busy+n <= b.room {
			break
		}
		if b.dropOne() {
			continue
		}
		if !b.canFree() {
			break
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			b.mu.Lock()
			return nil, ctx.Err()
		}
		b.mu.Lock()
	}
	b.admits++
	l := &load{n: n, alone: b.used+b.loading == 0, seq: b.admits}
	b.loading += n
	return l, nil
}

// done ends an admitted download.
func (b *diskBudget) done(l *load) {
	if b == nil || l == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loading -= l.n
	b.signal()
}

// dropOne deletes the blob fetched ahead most recently (the furthest from
// being uploaded) that no worker uses, and reports whether it did. The
// caller holds mu; the file goes under it too, so a worker that pins the
// blob afterwards finds it gone and fetches it again.
func (b *diskBudget) dropOne() bool {
	if b.drop == nil {
		return false
	}
	victim, latest := "", int64(-1)
	for c, at := range b.order {
		if b.pinned[c] == 0 && at > latest {
			victim, latest = c, at
		}
	}
	if victim == "" || b.drop(victim) != nil {
		return false
	}
	b.forget(victim)
	return true
}

// release drops blobs fetched ahead that no worker uses, the latest
// first, until need bytes are freed or none is left to drop, and reports
// whether it freed any: the room another writer of the run (the state)
// needs on a disk that filled under it.
func (b *diskBudget) release(need int64) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var freed int64
	for freed < need {
		before := b.used
		if !b.dropOne() {
			break
		}
		freed += before - b.used
	}
	return freed > 0
}

// canFree reports whether room can still come free without dropping:
// uploads delete their copies (not with --keep-data), so any blob held or
// loading will go. The caller holds mu.
func (b *diskBudget) canFree() bool {
	return b.drop != nil && b.used+b.loading > 0
}

// diskFull is told that an admitted download met a full disk. The disk
// held everything else of the run's, not this blob too: room shrinks to
// that less one such blob (the disk was full to the byte: the state and
// temporary files need some of it back), and the window to what leaves
// one such blob room again. It returns the
// new window, and whether waiting can help: not when copies are kept
// (nothing frees room), nor when the blob was alone on the disk from
// start to end (it does not fit even alone).
func (b *diskBudget) diskFull(l *load) (window int64, canWait bool) {
	if b == nil || l == nil {
		return 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	others := b.used + b.loading - l.n
	b.room = min(b.room, max(others-l.n, 0))
	b.window = min(b.window, max(b.room-l.n, 0))
	b.shrunk++
	// Make the shrink true at once rather than when uploads come: until
	// then the disk stays full to the byte, and the run's next state
	// save would meet it (the import may still run for a while). l's
	// own bytes end with done.
	for b.used+b.loading-l.n > b.room && b.dropOne() {
	}
	alone := l.alone && b.admits == l.seq && others == 0
	return b.window, b.drop != nil && !alone
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

// DiskFloor is what the upload workers hold on disk at once when each has
// its blob: concurrency of the largest blobs of refs, in disk blocks.
func DiskFloor(refs []repo.BlobRef, concurrency int) int64 {
	sizes := make([]int64, 0, len(refs))
	for _, b := range refs {
		sizes = append(sizes, b.Size)
	}
	slices.Sort(sizes)
	var n int64
	for i := len(sizes) - 1; i >= 0 && i >= len(sizes)-concurrency; i-- {
		n += diskuse.OnDisk(sizes[i])
	}
	return n
}
