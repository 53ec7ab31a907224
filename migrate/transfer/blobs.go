package transfer

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
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
// the new one creates the account and imports. It does nothing the second
// time.
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
		f.budget = newDiskBudget(DiskWindow(cmp.Or(b.cfg.DiskDir, b.cfg.Dir), b.cfg.DiskBudget, b.floor()))
		if have, err := b.store.List(); err == nil {
			for _, c := range have {
				n, _ := b.store.Has(c)
				f.budget.add(c, n)
			}
		}
	}
	b.fetcher = f
	f.prefetch(ctx, b.prefetchList(), prefetchWorkersFor(b.cfg.Concurrency))
	return nil
}

// Stop ends the background downloads and waits for them.
func (b *Blobs) Stop() {
	if b.fetcher != nil {
		b.fetcher.stop()
	}
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

func (b *Blobs) floor() int64 {
	return DiskFloor(b.cfg.Limits.Movable(b.list.Refs()), b.cfg.Concurrency)
}

// CheckDiskRoom refuses, before anything is written to the new PDS, a
// state dir whose disk cannot hold even the blobs the upload workers need
// at once. Above that floor the prefetch window shrinks to what is free.
// bound says whether the state dir already wrote to the new PDS (then the
// refusal is a stop to resume, not bad input).
func (b *Blobs) CheckDiskRoom(bound bool) error {
	dir := cmp.Or(b.cfg.DiskDir, b.cfg.Dir)
	free, ok := fsutil.FreeBytes(dir)
	floor := b.floor()
	if !ok || free >= floor {
		return nil
	}
	msg := fmt.Sprintf("the disk holding %s has %.1f MB free; the blob copy needs %.1f MB there at once ({blob-concurrency} %d of the largest blobs)",
		dir, units.MB(free), units.MB(floor), b.cfg.Concurrency)
	hint := "free some space there, or pass {state-dir} on a larger disk (a lower {blob-concurrency} needs less), then run the same command again"
	if bound {
		return &failure.StageError{Stage: stage.ExportRepo, Err: fmt.Errorf("%s", msg), Hint: hint}
	}
	return &failure.InputError{Msg: msg, Hint: hint + "; nothing was written to the new PDS"}
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
