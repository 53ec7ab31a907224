package migrate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/repo"
)

// stageBlobs uploads every blob the new PDS reports missing, downloading
// each from the source first if the prefetcher has not already. A blob that
// cannot be moved stops the migration before the identity stage, with the
// list of what is missing: it is never a warning.
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
	missing, err := m.new.ListMissingBlobs(ctx)
	if err != nil {
		return "", fmt.Errorf("list missing blobs on %s: %w", m.opts.NewPDS, err)
	}
	m.setMissing(missing) // until the uploads say otherwise: `status` shows them
	if len(missing) == 0 {
		if m.st.Done(StageBlobs) {
			// A resumed run: keep the note of the run that uploaded them.
			return "", skip("all %d blobs on the new PDS", len(m.blobRefs))
		}
		return fmt.Sprintf("all %d blobs on the new PDS", len(m.blobRefs)), nil
	}
	missing = m.uploadOrder(missing)
	uploaded, bytes, failures, localErr := m.uploadBlobs(ctx, missing)
	m.mu.Lock()
	m.st.Blobs.PeakDiskBytes = max(m.st.Blobs.PeakDiskBytes, m.fetcher.budget.Peak())
	m.mu.Unlock()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if localErr != nil {
		return "", localErr
	}
	if err := m.store.Sync(); err != nil {
		return "", err
	}
	still, err := m.new.ListMissingBlobs(ctx)
	if err != nil {
		return "", fmt.Errorf("list missing blobs on %s: %w", m.opts.NewPDS, err)
	}
	m.setMissing(still)
	if len(still) > 0 {
		return "", &StageError{Stage: StageBlobs, Err: missingBlobsError(still, failures),
			Hint: "nothing irreversible was done; run the same command again to retry the missing blobs"}
	}
	return fmt.Sprintf("%d uploaded (%.1f MB), none missing", uploaded, mb(bytes)), nil
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

func (m *Migrator) uploadBlobs(ctx context.Context, missing []pds.MissingBlob) (uploaded int, bytes int64, failures map[string]error, localErr error) {
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
	m.prog.Transfer(TransferBlobs, len(missing), total)

	// A local error (a full disk, an unwritable state dir) is the same
	// for every blob: the first one stops every worker.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	failures = map[string]error{}
	done := map[string]bool{}
	eachConcurrently(ctx, missing, m.opts.Concurrency, func(b pds.MissingBlob) {
		n, err := m.copyBlob(ctx, b.CID, sizes[b.CID])
		mu.Lock()
		if err != nil && isLocalError(err) && localErr == nil {
			localErr = err
			stop()
		}
		if err != nil {
			failures[b.CID] = err
		} else {
			done[b.CID] = true
			uploaded++
			bytes += n
		}
		mu.Unlock()
		if err == nil {
			m.prog.Advance(TransferBlobs, 1, n)
			crashPoint("blob-uploaded")
		}
	})
	var left []pds.MissingBlob
	for _, b := range missing {
		if !done[b.CID] {
			left = append(left, b)
		}
	}
	m.setMissing(left) // what an interrupted run leaves for `status`
	m.mu.Lock()
	m.st.Blobs.Uploaded += uploaded
	m.mu.Unlock()
	_ = m.save()
	return uploaded, bytes, failures, localErr
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
	if err := m.fetcher.uploaded(cid); err != nil {
		return 0, err
	}
	return size, nil
}

func (m *Migrator) setMissing(missing []pds.MissingBlob) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Blobs.Missing = nil
	for _, b := range missing {
		m.st.Blobs.Missing = append(m.st.Blobs.Missing, b.CID)
	}
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
