package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// stageBlobs uploads every blob the new PDS reports missing, downloading
// each from the source first if the prefetcher has not already, and every
// blob it does not list as missing but that nothing confirmed and that
// cannot be fetched back from it. A blob that cannot be moved stops the
// migration before the identity stage, with the list of what is missing:
// it is never a warning. Only the user's --skip-oversized-blobs leaves
// blobs behind, and then by name.
func (m *Migrator) stageBlobs(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	if m.fetcher == nil {
		if err := m.loadBlobList(); err != nil {
			return "", fmt.Errorf("read the blob list (run again to re-export): %w", err)
		}
		m.startFetcher(ctx)
		if m.fetcher == nil {
			return "", fmt.Errorf("cannot open the blob store in %s", m.dir)
		}
	}
	listed, err := m.new.ListMissingBlobs(ctx)
	if err != nil {
		return "", fmt.Errorf("list missing blobs on %s: %w", m.opts.NewPDS, err)
	}
	missing := m.withoutLeftBehind(listed)
	if err := m.checkBlobLimit(m.refsOf(missing)); err != nil {
		return "", err
	}
	missing = m.withoutLeftBehind(missing)
	// Blobs the new PDS does not list as missing are fetched back unless
	// an upload already confirmed them; those it cannot serve go again.
	bad, err := m.fetchBack(ctx, m.unconfirmed(missing))
	if err != nil {
		return "", err
	}
	for c, why := range bad {
		m.prog.Warn(fmt.Sprintf("the new PDS does not list blob %s as missing but does not serve it (%v): uploading it again", c, why))
		missing = append(missing, pds.MissingBlob{CID: c})
	}
	m.setMissing(missing) // until the uploads say otherwise: `status` shows them
	if len(missing) == 0 {
		if m.st.Done(stage.Blobs) {
			// A resumed run: keep the note of the run that uploaded them.
			return "", skip("all %d blobs on the new PDS", len(m.blobRefs))
		}
		return m.blobsNote(0, 0), nil
	}
	missing = m.uploadOrder(missing)
	res := m.uploadBlobs(ctx, missing)
	m.journal().Update(func(*checkpoint.State) {
		m.st.Blobs.PeakDiskBytes = max(m.st.Blobs.PeakDiskBytes, m.fetcher.budget.Peak())
	})
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if res.stop != nil {
		return "", res.stop
	}
	if err := m.store.Sync(); err != nil {
		return "", err
	}
	if err := m.refusedAsTooLarge(res.failures); err != nil {
		return "", err
	}
	still, err := m.new.ListMissingBlobs(ctx)
	if err != nil {
		return "", fmt.Errorf("list missing blobs on %s: %w", m.opts.NewPDS, err)
	}
	still = m.withoutLeftBehind(still)
	m.setMissing(still)
	if len(still) > 0 {
		return "", m.missingBlobsStop(still, res.failures)
	}
	return m.blobsNote(res.uploaded, res.bytes), nil
}

// blobsNote says what the stage did, and what it left behind on request.
func (m *Migrator) blobsNote(uploaded int, bytes int64) string {
	note := fmt.Sprintf("all %d blobs on the new PDS", len(m.blobRefs))
	if uploaded > 0 {
		note = fmt.Sprintf("%d uploaded (%.1f MB), none missing", uploaded, units.MB(bytes))
	}
	if n := len(m.leftBehindSet()); n > 0 {
		note += fmt.Sprintf("; %d left behind at your request (over the new PDS's upload limit)", n)
	}
	return note
}

// refsOf returns the blob refs (with their sizes) of the missing blobs.
func (m *Migrator) refsOf(missing []pds.MissingBlob) []repo.BlobRef {
	byCID := make(map[string]repo.BlobRef, len(m.blobRefs))
	for _, b := range m.blobRefs {
		byCID[b.CID] = b
	}
	out := make([]repo.BlobRef, 0, len(missing))
	for _, b := range missing {
		if r, ok := byCID[b.CID]; ok {
			out = append(out, r)
		}
	}
	return out
}

// refusedAsTooLarge handles the uploads the new PDS refused as too large
// (413), which happens when it does not report its limit (PDS 0.4.x):
// running again cannot help, so they are left behind when the user said
// so, and are bad input otherwise.
func (m *Migrator) refusedAsTooLarge(failures map[string]error) error {
	var over []repo.BlobRef
	for _, b := range m.blobRefs {
		if err := failures[b.CID]; err != nil && tooLarge(err) {
			over = append(over, b)
		}
	}
	if len(over) == 0 {
		return nil
	}
	if !m.opts.SkipOversizedBlobs {
		return oversizedError(m.opts.NewPDS, over, m.blobLimit())
	}
	for _, b := range over {
		m.leaveBehind(checkpoint.LeftBlob{CID: b.CID, Size: b.Size, MimeType: b.MimeType, Limit: m.blobLimit()})
		delete(failures, b.CID)
	}
	return m.save()
}

// missingBlobsStop is the error for blobs that are still missing after
// the uploads: bad input when the new PDS refused them for good (a 4xx
// that no retry changes), resumable otherwise.
func (m *Migrator) missingBlobsStop(still []pds.MissingBlob, failures map[string]error) error {
	err := missingBlobsError(still, failures)
	for _, b := range still {
		if f := failures[b.CID]; f != nil && permanentRefusal(f) {
			return &failure.InputError{Msg: "blobs", Err: err,
				Hint: "the new PDS refused these uploads, and would refuse them again: nothing irreversible was done; fix what its error names, then run the same command again"}
		}
	}
	return &failure.StageError{Stage: stage.Blobs, Err: err,
		Hint: "nothing irreversible was done; run the same command again to retry the missing blobs"}
}

// permanentRefusal is a 4xx answer that running again cannot change.
func permanentRefusal(err error) bool {
	var ae *pds.APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && !pds.IsTransient(err)
}

// uploadOrder puts the blobs already on disk first, then the rest in the
// order the prefetcher downloads them (the repo's order), so upload workers
// take blobs as they arrive instead of waiting on, or downloading
// themselves, blobs the prefetcher reaches last.
func (m *Migrator) uploadOrder(missing []pds.MissingBlob) []pds.MissingBlob {
	pos := make(map[string]int, len(m.blobRefs))
	for i, b := range m.blobRefs {
		pos[b.CID] = i
	}
	type keyed struct {
		b      pds.MissingBlob
		onDisk bool
		pos    int
	}
	ks := make([]keyed, len(missing))
	for i, b := range missing {
		_, on := m.store.Has(b.CID)
		p, known := pos[b.CID]
		if !known {
			p = len(m.blobRefs) + i
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

func (m *Migrator) uploadBlobs(ctx context.Context, missing []pds.MissingBlob) uploadResult {
	sizes := map[string]repo.BlobRef{}
	var total int64
	for _, b := range m.blobRefs {
		sizes[b.CID] = b
	}
	for _, mb := range missing {
		if s := sizes[mb.CID].Size; s > 0 {
			total += s
		}
	}
	m.prog.Transfer(ui.TransferBlobs, len(missing), total)

	// A local error or a long rate limit is the same for every blob: the
	// first one stops every worker.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	res := uploadResult{failures: map[string]error{}}
	done := map[string]bool{}
	warned := false
	workers.Each(ctx, missing, m.opts.Concurrency, func(b pds.MissingBlob) {
		n, err := m.copyBlob(ctx, b.CID, sizes[b.CID])
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			done[b.CID] = true
			res.uploaded++
			res.bytes += n
			m.prog.Advance(ui.TransferBlobs, 1, n)
			if !warned {
				warned = m.warnUploadBudget(len(missing) - res.uploaded)
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
		res.failures[b.CID] = err
	})
	var left []pds.MissingBlob
	for _, b := range missing {
		if !done[b.CID] {
			left = append(left, b)
		}
	}
	if ae, ok := failure.RateLimited(res.stop); ok {
		res.stop = m.rateLimitError(ae, len(left), "blob uploads")
	}
	m.setMissing(left) // what an interrupted run leaves for `status`
	m.journal().Update(func(*checkpoint.State) {
		m.st.Blobs.Uploaded += res.uploaded
	})
	_ = m.save()
	return res
}

// warnUploadBudget says, once the new PDS has told its upload budget,
// when the blobs left will not fit in it: the run goes on and stops
// cleanly at the limit. It reports whether it had anything to go on.
func (m *Migrator) warnUploadBudget(left int) bool {
	rl, ok := m.new.RateLimit("com.atproto.repo.uploadBlob")
	if !ok || rl.Remaining < 0 {
		return false
	}
	if left > rl.Remaining {
		m.prog.Warn(fmt.Sprintf("%s allows %d more blob uploads until %s (%d a %s); %d are left to do: the run will stop at the limit and the same command continues after it resets (as the PDS's admin, --ratelimit-bypass-key skips it)",
			m.opts.NewPDS, rl.Remaining, rl.Reset.UTC().Format("2006-01-02 15:04 MST"), rl.Limit, failure.WindowWords(rl.Window), left))
	}
	return true
}

// copyBlob makes sure the blob is on disk (verified against its CID) and
// uploads it from the file, so a retry or token refresh re-reads the file.
func (m *Migrator) copyBlob(ctx context.Context, cid string, ref repo.BlobRef) (int64, error) {
	if err := m.fetcher.Get(ctx, cid, ref.Size); err != nil {
		return 0, err
	}
	f, size, err := m.store.Open(cid)
	if err != nil {
		return 0, err
	}
	got, err := m.new.UploadBlob(ctx, f, size, ref.MimeType)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("upload blob %s: %w", cid, err)
	}
	if got != cid {
		return 0, fmt.Errorf("upload blob %s: the new PDS stored it as %s", cid, got)
	}
	m.confirmBlob(cid)
	if err := m.fetcher.uploaded(cid); err != nil {
		return 0, err
	}
	return size, nil
}

func (m *Migrator) setMissing(missing []pds.MissingBlob) {
	cids := make([]string, 0, len(missing))
	for _, b := range missing {
		cids = append(cids, b.CID)
	}
	m.journal().Update(func(st *checkpoint.State) { st.Blobs.Missing = cids })
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
