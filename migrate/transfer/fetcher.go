package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// blobFetcher downloads each blob to the blob store exactly once, however
// many goroutines ask for it: the prefetcher (started as soon as the blob
// list is known, so the old PDS works while the new one imports) and the
// upload workers (which need a blob now) share one download per CID.
type blobFetcher struct {
	src   Source
	store *repo.BlobStore
	prog  ui.Progress

	// recheck re-hashes a blob file that this process did not write
	// before it is used: an earlier run's copy may have been damaged (a
	// machine that died before the file reached the disk). A damaged copy
	// is deleted and fetched again; it is never uploaded.
	recheck bool
	// budget bounds what the prefetcher keeps on disk; release deletes
	// a blob's file once the new PDS has it (off for --keep-data and for
	// a backup's own files).
	budget  *diskBudget
	release bool
	// meter, when set, is poked as each blob lands: the moments the
	// run's disk use peaks.
	meter      *diskuse.Meter
	shrinkOnce sync.Once

	mu       sync.Mutex
	inflight map[string]*fetchCall
	checked  map[string]bool // written or re-hashed by this process
	gone     map[string]bool // uploaded, and the copy deleted
	sem      chan struct{}   // bounds downloads at once

	cancel context.CancelFunc
	done   chan struct{}
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func newBlobFetcher(src Source, store *repo.BlobStore, prog ui.Progress, concurrency int) *blobFetcher {
	return &blobFetcher{src: src, store: store, prog: prog, inflight: map[string]*fetchCall{}, checked: map[string]bool{}, gone: map[string]bool{}, sem: make(chan struct{}, concurrency)}
}

// Get makes sure cid is in the store, downloading it if needed: an upload
// worker's call, which a full disk makes wait for room (see download).
func (f *blobFetcher) Get(ctx context.Context, cid string, size int64) error {
	return f.get(ctx, cid, size, false)
}

// get is Get for an upload worker or, ahead, for the prefetcher.
func (f *blobFetcher) get(ctx context.Context, cid string, size int64, ahead bool) error {
	if _, ok := f.store.Has(cid); ok {
		good, err := f.localCopyGood(cid)
		if good || err != nil {
			return err
		}
	}
	f.mu.Lock()
	if ahead && f.gone[cid] {
		// An upload worker got there first and its copy is deleted:
		// fetching it again would only take room.
		f.mu.Unlock()
		return nil
	}
	c, ok := f.inflight[cid]
	if !ok {
		c = &fetchCall{done: make(chan struct{})}
		f.inflight[cid] = c
		f.mu.Unlock()
		c.err = f.download(ctx, cid, size, ahead)
		close(c.done)
		f.mu.Lock()
		delete(f.inflight, cid)
		f.mu.Unlock()
		return c.err
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		if c.err != nil {
			// The other caller's context may have been the one cancelled
			// (the prefetcher); try ourselves.
			return f.Get(ctx, cid, size)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// localCopyGood reports whether the stored file of cid can be used: one
// this process wrote (checked against the CID on the way in), or one that
// hashes to its CID now. A damaged file is deleted.
func (f *blobFetcher) localCopyGood(cid string) (bool, error) {
	f.mu.Lock()
	done := !f.recheck || f.checked[cid]
	f.mu.Unlock()
	if done {
		return true, nil
	}
	err := f.store.Verify(cid)
	switch {
	case err == nil:
		f.mu.Lock()
		f.checked[cid] = true
		f.mu.Unlock()
		return true, nil
	case errors.Is(err, repo.ErrBlobMismatch):
		if rerr := os.Remove(f.store.Path(cid)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return false, fmt.Errorf("remove the damaged copy of blob %s: %w", cid, rerr)
		}
		f.prog.Warn(fmt.Sprintf("the local copy of blob %s was damaged: deleted, fetching it again", cid))
		return false, nil
	}
	return false, fmt.Errorf("re-check the local copy of blob %s: %w", cid, err)
}

// download fetches cid into the store within the disk budget. A full disk
// is never retried as such: the prefetcher gives the blob up to the upload
// worker that will need it, and a worker tries again only once the budget
// has made room (dropping blobs fetched ahead, or waiting for uploads to
// delete theirs). A blob that meets a full disk with nothing else of the
// run's on it stops the run. The store never keeps a partial file.
func (f *blobFetcher) download(ctx context.Context, cid string, size int64, ahead bool) error {
	for {
		l, err := f.budget.admit(ctx, cid, diskuse.OnDisk(size), ahead)
		if err != nil {
			return err
		}
		err = f.fetch(ctx, cid, size)
		if err == nil {
			if n, ok := f.store.Has(cid); ok {
				f.budget.add(cid, diskuse.OnDisk(n))
			}
			f.budget.done(l)
			f.poke()
			crashpoint.At("blob-downloaded")
			return nil
		}
		if !failure.IsDiskFull(err) {
			f.budget.done(l)
			return fmt.Errorf("download blob %s: %w", cid, err)
		}
		window, canWait := f.budget.diskFull(l)
		f.budget.done(l)
		f.shrunk(window)
		switch {
		case ahead:
			return fmt.Errorf("download blob %s ahead: %w", cid, err)
		case !canWait && f.release:
			return fmt.Errorf("blob %s (%.1f MB) does not fit on the disk even with no other blob of the run there: %w", cid, units.MB(size), err)
		case !canWait:
			return fmt.Errorf("download blob %s: %w", cid, err)
		}
	}
}

// fetch downloads cid once, among the downloads allowed at once.
func (f *blobFetcher) fetch(ctx context.Context, cid string, size int64) error {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-f.sem }()
	if _, _, err := FetchToStore(ctx, f.src, f.store, cid, size); err != nil {
		return err
	}
	f.mu.Lock()
	f.checked[cid] = true
	f.mu.Unlock()
	return nil
}

// shrunk says, the first time, that a full disk shrank the window.
func (f *blobFetcher) shrunk(window int64) {
	f.shrinkOnce.Do(func() {
		f.prog.Warn(fmt.Sprintf("the disk holding %s is full: the blobs fetched ahead of the uploads shrink to %.1f MB, and the copy goes on as uploads free space", f.store.Dir, units.MB(window)))
	})
}

func (f *blobFetcher) poke() {
	if f.meter != nil {
		f.meter.Poke()
	}
}

// FetchToStore streams one blob from src into store, checked against its
// CID on the way; a mismatch counts as a corrupt body, which is retried.
// size is what to expect when the server does not say. It returns the
// bytes written and the server's Content-Type.
func FetchToStore(ctx context.Context, src Source, store *repo.BlobStore, cid string, size int64) (n int64, contentType string, err error) {
	err = src.FetchBlob(ctx, cid, func(body io.Reader, got int64, ctype string) error {
		expect := got
		if expect < 0 {
			expect = size
		}
		w, err := store.Write(cid, body, expect)
		if errors.Is(err, repo.ErrBlobMismatch) {
			return fmt.Errorf("%w: %v", pds.ErrCorruptBody, err)
		}
		n, contentType = w, ctype
		return err
	})
	return n, contentType, err
}

// prefetch downloads every blob in refs in the background. Failures are
// not reported here: the upload stage asks again and reports them.
func (f *blobFetcher) prefetch(parent context.Context, refs []repo.BlobRef, concurrency int) {
	ctx, cancel := context.WithCancel(parent)
	f.cancel = cancel
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		workers.Each(ctx, refs, concurrency, func(b repo.BlobRef) {
			if _, ok := f.store.Has(b.CID); !ok {
				if f.budget.waitRoom(ctx, diskuse.OnDisk(b.Size)) != nil {
					return
				}
			}
			_ = f.get(ctx, b.CID, b.Size, true)
		})
	}()
}

// dropCopy deletes a stored blob fetched ahead, to make room for one an
// upload worker needs now: it is fetched again when its turn comes.
func (f *blobFetcher) dropCopy(cid string) error {
	if err := os.Remove(f.store.Path(cid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// uploaded is told that the new PDS confirmed cid: its local copy goes,
// making room for the prefetch.
func (f *blobFetcher) uploaded(cid string) error {
	if !f.release {
		return nil
	}
	f.mu.Lock()
	f.gone[cid] = true
	f.mu.Unlock()
	if err := f.dropCopy(cid); err != nil {
		return err
	}
	f.budget.remove(cid)
	return nil
}

func (f *blobFetcher) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
}

// prefetchWorkers bounds the background downloads that run while the new
// PDS creates the account and imports the repo. Downloads only have to
// finish before the uploads need them, and the import is the longer of the
// two (make bench: 1,000 blobs of 100 KB download in about 2 s at 4 at a
// time, the 20,000-record import takes 3-4 s), so more parallel requests
// would only load the old PDS (and, when both servers share a machine, take
// CPU from the import) for no gain. The upload stage fetches anything
// still missing at the full --concurrency.
const prefetchWorkers = 4

func prefetchWorkersFor(concurrency int) int { return min(concurrency, prefetchWorkers) }
