package transfer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// uploadOrder puts the blobs already on disk first, then the rest in the
// order the prefetcher downloads them (the repo's order), so upload workers
// take blobs as they arrive instead of waiting on, or downloading
// themselves, blobs the prefetcher reaches last.
func uploadOrder(missing []pds.MissingBlob, refs []repo.BlobRef, store *repo.BlobStore) []pds.MissingBlob {
	pos := make(map[string]int, len(refs))
	for i, b := range refs {
		pos[b.CID] = i
	}
	type keyed struct {
		b      pds.MissingBlob
		onDisk bool
		pos    int
	}
	ks := make([]keyed, len(missing))
	for i, b := range missing {
		_, on := store.Has(b.CID)
		p, known := pos[b.CID]
		if !known {
			p = len(refs) + i
		}
		ks[i] = keyed{b, on, p}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if ks[i].onDisk != ks[j].onDisk {
			return ks[i].onDisk
		}
		return ks[i].pos < ks[j].pos
	})
	out := make([]pds.MissingBlob, len(ks))
	for i, k := range ks {
		out[i] = k.b
	}
	return out
}

// uploadResult is what one round of uploads did.
type uploadResult struct {
	uploaded int
	bytes    int64
	failures map[string]error
	// stop is what ended the round early for every blob: a local error
	// (a full disk, an unwritable state dir) or a rate limit that resets
	// later than the client waits.
	stop error
}

// upload is one round of uploads of the missing blobs, --concurrency at
// a time.
func (b *Blobs) upload(ctx context.Context, missing []pds.MissingBlob) uploadResult {
	sizes := b.list.byCID()
	var total int64
	for _, mb := range missing {
		if s := sizes[mb.CID].Size; s > 0 {
			total += s
		}
	}
	b.cfg.Progress.Transfer(ui.TransferBlobs, len(missing), total)

	// A local error or a long rate limit is the same for every blob: the
	// first one stops every worker.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	res := uploadResult{failures: map[string]error{}}
	done := map[string]bool{}
	warned := false
	workers.Each(ctx, missing, b.cfg.Concurrency, func(mb pds.MissingBlob) {
		n, err := b.copyOne(ctx, mb.CID, sizes[mb.CID])
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			done[mb.CID] = true
			res.uploaded++
			res.bytes += n
			b.cfg.Progress.Advance(ui.TransferBlobs, 1, n)
			if !warned {
				warned = b.warnUploadBudget(len(missing) - res.uploaded)
			}
			crashpoint.At("blob-uploaded")
			return
		case res.stop != nil:
		case failure.IsLocal(err):
			res.stop = err
			stop()
		default:
			if ae, ok := failure.RateLimited(err); ok && ctx.Err() == nil {
				res.stop = ae // made a RateLimitError below, once the count is known
				stop()
			}
		}
		res.failures[mb.CID] = err
	})
	var left []pds.MissingBlob
	for _, mb := range missing {
		if !done[mb.CID] {
			left = append(left, mb)
		}
	}
	if ae, ok := failure.RateLimited(res.stop); ok {
		res.stop = failure.RateLimit(ae, len(left), "blob uploads", servers.SameURL(ae.Host, b.cfg.NewPDS))
	}
	b.setMissing(left) // what an interrupted run leaves for `status`
	b.cfg.Journal.Update(func(st *checkpoint.State) { st.Blobs.Uploaded += res.uploaded })
	_ = b.cfg.Journal.Save() // best effort: the round's outcome matters more
	return res
}

// warnUploadBudget says, once the new PDS has told its upload budget,
// when the blobs left will not fit in it: the run goes on and stops
// cleanly at the limit. It reports whether it had anything to go on.
func (b *Blobs) warnUploadBudget(left int) bool {
	rl, ok := b.cfg.New.RateLimit("com.atproto.repo.uploadBlob")
	if !ok || rl.Remaining < 0 {
		return false
	}
	if left > rl.Remaining {
		b.cfg.Progress.Warn(fmt.Sprintf("%s allows %d more blob uploads until %s (%d a %s); %d are left to do: the run will stop at the limit and the same command continues after it resets (as the PDS's admin, {ratelimit-bypass-key} skips it)",
			b.cfg.NewPDS, rl.Remaining, rl.Reset.UTC().Format("2006-01-02 15:04 MST"), rl.Limit, failure.WindowWords(rl.Window), left))
	}
	return true
}

// copyOne makes sure the blob is on disk (verified against its CID) and
// uploads it from the file, so a retry or token refresh re-reads the file.
func (b *Blobs) copyOne(ctx context.Context, cid string, ref repo.BlobRef) (int64, error) {
	// Pinned from before the download until its copy is deleted: a full
	// disk drops blobs fetched ahead, never one a worker is using.
	defer b.fetcher.budget.pin(cid)()
	if err := b.fetcher.Get(ctx, cid, ref.Size); err != nil {
		return 0, err
	}
	f, size, err := b.store.Open(cid)
	if err != nil {
		return 0, err
	}
	got, err := b.cfg.New.UploadBlob(ctx, f, size, ref.MimeType)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("upload blob %s: %w", cid, err)
	}
	if got != cid {
		return 0, fmt.Errorf("upload blob %s: the new PDS stored it as %s", cid, got)
	}
	b.confirmed.add(cid)
	if err := b.fetcher.uploaded(cid); err != nil {
		return 0, err
	}
	return size, nil
}

// missingBlobsError names what is missing and why, shortest list first.
func missingBlobsError(still []pds.MissingBlob, failures map[string]error) error {
	var lines []string
	for _, b := range still {
		line := b.CID
		if b.RecordURI != "" {
			line += " (" + b.RecordURI + ")"
		}
		if err := failures[b.CID]; err != nil {
			line += ": " + err.Error()
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	const show = 10
	more := ""
	if len(lines) > show {
		more = fmt.Sprintf("\n  ... and %d more (atmigrate status lists them all)", len(lines)-show)
		lines = lines[:show]
	}
	return fmt.Errorf("%d blob(s) are missing on the new PDS:\n  %s%s", len(still), strings.Join(lines, "\n  "), more)
}
