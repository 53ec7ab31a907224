package transfer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/repo"
)

// Result is what a copy did.
type Result struct {
	// Missing is how many blobs the new PDS lacked when the copy began.
	Missing  int
	Uploaded int
	Bytes    int64
}

// Copy uploads every blob the new PDS reports missing, downloading each
// from the source first if the prefetch has not already, and every blob it
// does not list as missing but that nothing confirmed and that cannot be
// fetched back from it. A blob that cannot be moved stops the migration
// before the identity stage, with the list of what is missing: it is never
// a warning. Only the user's choice to skip oversized blobs leaves blobs
// behind, and then by name.
func (b *Blobs) Copy(ctx context.Context) (Result, error) {
	if b.fetcher == nil {
		if err := b.list.Load(); err != nil {
			return Result{}, fmt.Errorf("read the blob list (run again to re-export): %w", err)
		}
		if err := b.Start(ctx); err != nil {
			return Result{}, fmt.Errorf("cannot open the blob store in %s: %w", b.cfg.Dir, err)
		}
	}
	limits := b.cfg.Limits
	listed, err := b.cfg.New.ListMissingBlobs(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("list missing blobs on %s: %w", b.cfg.NewPDS, err)
	}
	missing := limits.WithoutLeftBehind(listed)
	if err := limits.Check(refsOf(missing, b.list.byCID())); err != nil {
		return Result{}, err
	}
	missing = limits.WithoutLeftBehind(missing)
	// Held back while the new PDS imported (Config.HoldAhead), the
	// downloads ahead start now, beside the uploads.
	b.startPrefetch(ctx)
	// Blobs the new PDS does not list as missing are fetched back unless
	// an upload already confirmed them; those it cannot serve go again.
	bad, err := b.confirmed.fetchBack(ctx, b.confirmed.unconfirmed(limits.Movable(b.list.Refs()), missing))
	if err != nil {
		return Result{}, err
	}
	for c, why := range bad {
		b.cfg.Progress.Warn(fmt.Sprintf("the new PDS does not list blob %s as missing but does not serve it (%v): uploading it again", c, why))
		missing = append(missing, pds.MissingBlob{CID: c})
	}
	b.setMissing(missing) // until the uploads say otherwise: `status` shows them
	res := Result{Missing: len(missing)}
	if len(missing) == 0 {
		return res, nil
	}
	round := b.upload(ctx, uploadOrder(missing, b.list.Refs(), b.store))
	res.Uploaded, res.Bytes = round.uploaded, round.bytes
	b.cfg.Journal.Update(func(st *checkpoint.State) {
		st.Blobs.PeakDiskBytes = max(st.Blobs.PeakDiskBytes, b.fetcher.budget.Peak())
	})
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if round.stop != nil {
		return res, round.stop
	}
	if err := b.store.Sync(); err != nil {
		return res, err
	}
	if err := limits.RefusedAsTooLarge(b.list.Refs(), round.failures); err != nil {
		return res, err
	}
	still, err := b.cfg.New.ListMissingBlobs(ctx)
	if err != nil {
		return res, fmt.Errorf("list missing blobs on %s: %w", b.cfg.NewPDS, err)
	}
	still = limits.WithoutLeftBehind(still)
	b.setMissing(still)
	if len(still) > 0 {
		return res, missingBlobsStop(still, round.failures)
	}
	return res, nil
}

// Note says what a copy did, and what it left behind on request.
func (b *Blobs) Note(r Result) string {
	note := fmt.Sprintf("all %d blobs on the new PDS", len(b.list.Refs()))
	if r.Uploaded > 0 {
		note = fmt.Sprintf("%d uploaded (%.1f MB), none missing", r.Uploaded, units.MB(r.Bytes))
	}
	if n := len(b.cfg.Limits.LeftBehind()); n > 0 {
		note += fmt.Sprintf("; %d left behind at your request (over the new PDS's upload limit)", n)
	}
	return note
}

// Confirm is the blob half of the gate in front of the identity step: the
// new PDS lists no blob as missing, and every blob to move is confirmed
// (see confirm.go). It returns how many blobs that is.
func (b *Blobs) Confirm(ctx context.Context) (int, error) {
	listed, err := b.cfg.New.ListMissingBlobs(ctx)
	if err != nil {
		return 0, fmt.Errorf("list missing blobs on %s: %w", b.cfg.NewPDS, err)
	}
	missing := b.cfg.Limits.WithoutLeftBehind(listed)
	b.setMissing(missing)
	if len(missing) > 0 {
		return 0, &failure.StageError{Stage: stage.VerifyNew, Err: missingBlobsError(missing, nil),
			Hint: "run the same command again to copy the missing blobs"}
	}
	movable := b.cfg.Limits.Movable(b.list.Refs())
	bad, err := b.confirmed.fetchBack(ctx, b.confirmed.unconfirmed(movable, nil))
	if err != nil {
		return 0, err
	}
	if err := b.cfg.Journal.Save(); err != nil {
		return 0, err
	}
	if len(bad) > 0 {
		return 0, &failure.StageError{Stage: stage.VerifyNew, Err: unservedBlobsError(bad),
			Hint: "run the same command again: the blobs stage uploads them again"}
	}
	return len(movable), nil
}

// refsOf returns the blob refs (with their sizes) of the missing blobs.
func refsOf(missing []pds.MissingBlob, byCID map[string]repo.BlobRef) []repo.BlobRef {
	out := make([]repo.BlobRef, 0, len(missing))
	for _, m := range missing {
		if r, ok := byCID[m.CID]; ok {
			out = append(out, r)
		}
	}
	return out
}

// missingBlobsStop is the error for blobs that are still missing after
// the uploads: bad input when the new PDS refused them for good (a 4xx
// that no retry changes), resumable otherwise.
func missingBlobsStop(still []pds.MissingBlob, failures map[string]error) error {
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

// unservedBlobsError names the blobs the new PDS lists as present but
// does not serve as they are.
func unservedBlobsError(bad map[string]error) error {
	lines := make([]string, 0, len(bad))
	for c, err := range bad {
		lines = append(lines, c+": "+err.Error())
	}
	sort.Strings(lines)
	return fmt.Errorf("%d blob(s) are not listed as missing by the new PDS but could not be fetched back from it:\n  %s",
		len(bad), strings.Join(units.FirstN(lines, 10), "\n  "))
}
