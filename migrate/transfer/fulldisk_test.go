package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/repo"
)

// smallDiskSource serves blobs from memory into a store that stands on a
// disk of capacity bytes: a write that would take the store's folder past
// it fails as the kernel's would, with ENOSPC (the partial temp file
// counts, as it does on a real disk).
type smallDiskSource struct {
	blobSource
	store    *repo.BlobStore
	capacity int64
	full     int // writes refused
}

func (s *smallDiskSource) FetchBlob(ctx context.Context, cid string, fn func(io.Reader, int64, string) error) error {
	s.mu.Lock()
	s.fetches++
	s.mu.Unlock()
	b := s.blobs[cid]
	return fn(&diskFullReader{s: s, r: bytes.NewReader(b)}, int64(len(b)), "image/png")
}

type diskFullReader struct {
	s *smallDiskSource
	r io.Reader
}

func (d *diskFullReader) Read(p []byte) (int, error) {
	used, _ := diskuse.Used(d.s.store.Dir)
	if used+int64(len(p)) > d.s.capacity {
		d.s.mu.Lock()
		d.s.full++
		d.s.mu.Unlock()
		return 0, &os.PathError{Op: "write", Path: d.s.store.Dir, Err: syscall.ENOSPC}
	}
	return d.r.Read(p)
}

func randomBlobs(t *testing.T, n, size int) (map[string][]byte, []repo.BlobRef) {
	t.Helper()
	blobs := map[string][]byte{}
	var refs []repo.BlobRef
	for range n {
		b := make([]byte, size)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		c := fakenet.BlobCID(b)
		blobs[c] = b
		refs = append(refs, repo.BlobRef{CID: c, Size: int64(size)})
	}
	return blobs, refs
}

// smallDiskFetcher is a fetcher over a store on a disk of capacity bytes,
// whose budget believes (as a run measuring free space at start would)
// that the window fits.
func smallDiskFetcher(t *testing.T, capacity int64, blobs map[string][]byte, window int64, release bool) (*blobFetcher, *smallDiskSource, *warnings) {
	t.Helper()
	store, err := repo.OpenBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := &smallDiskSource{blobSource: blobSource{blobs: blobs}, store: store, capacity: capacity}
	prog := &warnings{}
	f := newBlobFetcher(src, store, prog, 4)
	f.budget = newDiskBudget(window)
	f.release = release
	if release {
		f.budget.drop = f.dropCopy
	}
	return f, src, prog
}

// uploadAll does what the upload workers do with each blob: pin it, get
// it, "upload" it (a short wait), and delete the copy.
func uploadAll(ctx context.Context, f *blobFetcher, refs []repo.BlobRef, workersN int) error {
	var mu sync.Mutex
	var first error
	workers.Each(ctx, refs, workersN, func(r repo.BlobRef) {
		unpin := f.budget.pin(r.CID)
		defer unpin()
		err := f.Get(ctx, r.CID, r.Size)
		if err == nil {
			time.Sleep(2 * time.Millisecond)
			err = f.uploaded(r.CID)
		}
		if err != nil {
			mu.Lock()
			first = errors.Join(first, err)
			mu.Unlock()
		}
	})
	return first
}

// A disk that holds three blobs, a window sized for ten and four upload
// workers: the first full disk shrinks the window (said once), workers
// drop blobs fetched ahead or wait for uploads, and every blob is copied.
// A full disk is never retried without room made first.
func TestFullDiskShrinksTheWindowAndGoesOn(t *testing.T) {
	blobs, refs := randomBlobs(t, 20, 10_000) // 12 KiB each on disk
	capacity := int64(3 * 12 << 10)
	f, src, prog := smallDiskFetcher(t, capacity, blobs, 10*12<<10, true)
	ctx := context.Background()
	f.prefetch(ctx, refs, 4)
	// Let the prefetcher meet the full disk before the uploads begin, as
	// it does while the new PDS imports the repo.
	time.Sleep(50 * time.Millisecond)
	if err := uploadAll(ctx, f, refs, 4); err != nil {
		t.Fatalf("the copy stopped on a disk that holds three blobs: %v", err)
	}
	f.stop()
	if src.full == 0 {
		t.Fatal("the disk never filled: the test proves nothing")
	}
	if f.budget.window >= 10*12<<10 || f.budget.room > capacity {
		t.Errorf("window %d, room %d after a full disk: want both shrunk below the %d the disk holds", f.budget.window, f.budget.room, capacity)
	}
	if len(prog.list) != 1 || !strings.Contains(prog.list[0], "is full") || !strings.Contains(prog.list[0], "shrink") {
		t.Errorf("warnings %q, want one saying the window shrank", prog.list)
	}
	// Every refused write was followed by room made (a drop or an
	// upload) before the next try: never more refusals than blobs moved.
	if src.full > len(refs)+4 {
		t.Errorf("%d writes refused for %d blobs: a full disk was retried in a loop", src.full, len(refs))
	}
	if left, _ := f.store.List(); len(left) != 0 {
		t.Errorf("%d copies left after every upload", len(left))
	}
	assertNoPartialFiles(t, f.store)
}

// A blob that does not fit on the disk even alone stops at once, with a
// disk-full error naming it, and leaves no partial file.
func TestBlobLargerThanTheDiskStops(t *testing.T) {
	blobs, refs := randomBlobs(t, 1, 50_000)
	f, src, _ := smallDiskFetcher(t, 20_000, blobs, 1<<20, true)
	err := uploadAll(context.Background(), f, refs, 4)
	if !failure.IsDiskFull(err) || !strings.Contains(err.Error(), "does not fit on the disk even with no other blob") {
		t.Fatalf("got %v, want a full disk naming the blob that does not fit alone", err)
	}
	if src.fetches != 1 {
		t.Errorf("%d fetches: a full disk was retried", src.fetches)
	}
	assertNoPartialFiles(t, f.store)
}

// With --keep-data nothing ever frees room: the first full disk of an
// upload worker stops, without waiting.
func TestKeepDataStopsAtTheFullDisk(t *testing.T) {
	blobs, refs := randomBlobs(t, 6, 10_000)
	f, _, _ := smallDiskFetcher(t, 3*12<<10, blobs, 1<<20, false)
	done := make(chan error, 1)
	go func() { done <- uploadAll(context.Background(), f, refs, 1) }()
	select {
	case err := <-done:
		if !failure.IsDiskFull(err) {
			t.Fatalf("got %v, want the full disk", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting for room that nothing will free")
	}
	assertNoPartialFiles(t, f.store)
}

func assertNoPartialFiles(t *testing.T, store *repo.BlobStore) {
	t.Helper()
	entries, err := os.ReadDir(store.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("partial file %s left in the store", e.Name())
		}
	}
	have, _ := store.List()
	for _, c := range have {
		if err := store.Verify(c); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stored blob %s does not verify: %v", c, err)
		}
	}
}
