package transfer

import (
	"cmp"
	"context"
	"io"
	"path/filepath"

	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// Config is what the blob copy of one migration works with.
type Config struct {
	// Dir holds the blob store, in its blobs/ folder: the state dir.
	// DiskDir is where the disk the run fills is measured ("": Dir); the
	// dry run keeps its files apart from the state dir it measures.
	Dir, DiskDir string
	DID          string
	Source       Source
	// New is the new PDS, logged in as the account; NewPDS its URL.
	New    *pds.Client
	NewPDS string
	// Concurrency is the uploads (and the downloads they wait for) at once.
	Concurrency int
	// DiskBudget bounds the blob bytes the prefetch keeps on disk.
	DiskBudget int64
	// Meter, when set, measures the run's files: it is poked as each
	// blob lands.
	Meter *diskuse.Meter
	// HoldAhead keeps the prefetch from starting before the uploads do
	// (--download-ahead uploads). Beside the import, downloads fill the
	// old PDS's idle time, but when the new PDS shares this machine they
	// also compete with it for the same CPUs and disk: make bench, M on
	// one two-core machine, measured the import at 1.36-1.94 s beside
	// the prefetch and 0.72-0.94 s without it, though the uploads then
	// wait for downloads they would have found on disk (no net gain on
	// S, M or L there, so it is not the default).
	HoldAhead bool
	// KeepData keeps every downloaded blob; FromBackup says the source is
	// a verified backup, whose blobs are neither re-checked nor deleted.
	KeepData, FromBackup bool
	// Store, when set, is where the blobs already are (a backup's own
	// store): they are uploaded from there. Unset, the state dir's blobs/.
	Store    *repo.BlobStore
	Limits   *Limits
	Journal  *checkpoint.Journal
	Progress ui.Progress
}

// Blobs is the blob copy of one migration: the list, the store in the
// state dir, the fetcher that fills it ahead of the uploads, and the
// blobs the new PDS is known to hold.
type Blobs struct {
	cfg       Config
	list      *List
	store     *repo.BlobStore
	fetcher   *blobFetcher
	confirmed *confirmations
}

// NewBlobs is the blob copy of cfg over list.
func NewBlobs(cfg Config, list *List) *Blobs {
	fetch := func(ctx context.Context, cid string, fn func(io.Reader, int64, string) error) error {
		return cfg.New.FetchBlob(ctx, cfg.DID, cid, fn)
	}
	return &Blobs{cfg: cfg, list: list, confirmed: &confirmations{j: cfg.Journal, fetch: fetch, workers: cfg.Concurrency, prog: cfg.Progress}}
}

// Start opens the blob store and starts downloading, within the disk
// window, what the new PDS will need, so the old PDS serves blobs while
// the new one creates the account and imports (with HoldAhead, once the
// uploads begin). It does nothing the second time.
func (b *Blobs) Start(ctx context.Context) error {
	if b.fetcher != nil {
		return nil
	}
	if b.store == nil {
		b.store = b.cfg.Store
	}
	if b.store == nil {
		s, err := repo.OpenBlobStore(filepath.Join(b.cfg.Dir, "blobs"))
		if err != nil {
			return err
		}
		b.store = s
	}
	f := newBlobFetcher(b.cfg.Source, b.store, b.cfg.Progress, b.cfg.Concurrency)
	// The state dir's copies are re-checked and deleted once uploaded; a
	// backup was verified whole when it was opened, and its files are
	// never deleted.
	f.recheck = !b.cfg.FromBackup
	f.release = !b.cfg.FromBackup && !b.cfg.KeepData
	if !b.cfg.FromBackup {
		room := b.diskRoom()
		f.budget = newDiskBudget(room.Window())
		f.budget.room = room.BlobRoom()
		if f.release {
			f.budget.drop = f.dropCopy
			b.cfg.Journal.OnDiskFull(f.budget.release)
		}
		if have, err := b.store.List(); err == nil {
			for _, c := range have {
				n, _ := b.store.Has(c)
				f.budget.add(c, diskuse.OnDisk(n))
			}
		}
	}
	f.meter = b.cfg.Meter
	b.fetcher = f
	if !b.cfg.HoldAhead {
		b.startPrefetch(ctx)
	}
	return nil
}

// startPrefetch starts the background downloads once.
func (b *Blobs) startPrefetch(ctx context.Context) {
	if b.fetcher.cancel == nil {
		b.fetcher.prefetch(ctx, b.prefetchList(), prefetchWorkersFor(b.cfg.Concurrency))
	}
}

// Stop ends the background downloads and waits for them.
func (b *Blobs) Stop() {
	if b.fetcher != nil {
		b.fetcher.stop()
	}
	b.cfg.Journal.OnDiskFull(nil)
}

// prefetchList is what the prefetch downloads: every blob on a first run;
// on a resumed one only those the new PDS lacked at the last check, since
// uploaded copies are deleted and must not be fetched again.
func (b *Blobs) prefetchList() []repo.BlobRef {
	var missing []string
	var checked bool
	b.cfg.Journal.Update(func(st *checkpoint.State) {
		missing = st.Blobs.Missing
		checked = st.Done(stage.Blobs) || st.Blobs.Uploaded > 0 || len(missing) > 0
	})
	refs := b.cfg.Limits.Movable(b.list.Refs())
	if !checked {
		return refs
	}
	want := map[string]bool{}
	for _, c := range missing {
		want[c] = true
	}
	var out []repo.BlobRef
	for _, r := range refs {
		if want[r.CID] {
			out = append(out, r)
		}
	}
	return out
}

// diskRoom measures the state dir's disk now, with what the run keeps
// free beside its blobs.
func (b *Blobs) diskRoom() DiskRoom {
	refs := b.cfg.Limits.Movable(b.list.Refs())
	var repoBytes int64
	b.cfg.Journal.Update(func(st *checkpoint.State) { repoBytes = st.Repo.Bytes })
	r := DiskRoom{Headroom: Headroom(repoBytes, len(refs)), Largest: Largest(refs),
		Floor: DiskFloor(refs, b.cfg.Concurrency), Budget: b.cfg.DiskBudget}
	r.Free, r.Known = fsutil.FreeBytes(cmp.Or(b.cfg.DiskDir, b.cfg.Dir))
	// Only the state dir's own blob folder is the run's room: a backup's
	// store is read, never written.
	if b.cfg.Store == nil {
		r.OwnBlobs, _ = diskuse.Used(filepath.Join(b.cfg.Dir, "blobs"))
	}
	return r
}

// CheckDiskRoom refuses, before anything is written to the new PDS, a
// state dir whose disk cannot hold even the largest blob beside the
// headroom: no window helps then. Above that, the window shrinks to the
// disk and the upload workers take turns when they must. bound says
// whether the state dir already wrote to the new PDS (then the refusal is
// a stop to resume, not bad input). A backup's blobs are uploaded from
// the backup: they need no room here.
func (b *Blobs) CheckDiskRoom(bound bool) error {
	if b.cfg.FromBackup {
		return nil
	}
	return b.diskRoom().refusal(cmp.Or(b.cfg.DiskDir, b.cfg.Dir), bound)
}

// StillToDownload adds up the blobs the new PDS lacked at the last check
// that are not on disk yet.
func (b *Blobs) StillToDownload() int64 {
	var missing []string
	b.cfg.Journal.Update(func(st *checkpoint.State) { missing = append(missing, st.Blobs.Missing...) })
	if len(missing) == 0 || b.store == nil {
		return 0
	}
	refs := b.list.byCID()
	var n int64
	for _, c := range missing {
		if _, ok := b.store.Has(c); !ok {
			n += max(refs[c].Size, 0)
		}
	}
	return n
}

// setMissing records what the new PDS lacks, for `status`.
func (b *Blobs) setMissing(missing []pds.MissingBlob) {
	cids := make([]string, 0, len(missing))
	for _, m := range missing {
		cids = append(cids, m.CID)
	}
	b.cfg.Journal.Update(func(st *checkpoint.State) { st.Blobs.Missing = cids })
}
