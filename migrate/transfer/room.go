package transfer

import (
	"errors"
	"fmt"
	"math"

	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/repo"
)

// DiskRoom is the state dir's disk as the blob copy starts, and the bounds
// that follow from it. Every file of the run's counts: those already
// written (the repo, the blob list, the state) are no longer free, the
// blob copies an earlier run left are the run's own room, and Headroom
// stays free for the files the run has yet to write beside the blobs.
type DiskRoom struct {
	// Known is false where free space cannot be measured: then only the
	// budget bounds the window.
	Known bool
	// Free is what the disk has free now; OwnBlobs what the blob copies
	// already there take.
	Free, OwnBlobs int64
	// Headroom is kept free for the repo's and the state's temporary
	// copies (see Headroom).
	Headroom int64
	// Largest is the largest blob to move; Floor what the upload workers
	// hold at once (--blob-concurrency of the largest); Budget is
	// --disk-budget.
	Largest, Floor, Budget int64
}

// headroomSlack covers what is too small to count one by one: the
// catch-up's diff CARs, directory entries, the lock file.
const headroomSlack = 256 << 10

// Headroom is what a run keeps free on the state dir's disk beside its
// blobs: room for the repo written again under another name (the
// catch-up's fallback to a full import keeps the old copy until the new
// one is verified), and for the state file written whole through a
// temporary copy beside it, grown by the blob lists it keeps (what is
// missing, what the new PDS confirmed: a CID each, about 64 bytes).
func Headroom(repoBytes int64, blobs int) int64 {
	state := int64(16<<10) + 2*64*int64(blobs)
	return diskuse.OnDisk(repoBytes) + 2*diskuse.OnDisk(state) + headroomSlack
}

// BlobRoom is the most blob bytes the disk can hold at once: what is free
// and what the run's blob copies take, less the headroom.
func (r DiskRoom) BlobRoom() int64 {
	if !r.Known {
		return math.MaxInt64
	}
	return max(r.Free+r.OwnBlobs-r.Headroom, 0)
}

// Window is what the prefetch may keep ahead of the uploads: the budget,
// shrunk to the blob room beyond what the upload workers hold.
func (r DiskRoom) Window() int64 {
	if !r.Known {
		return r.Budget
	}
	return max(min(r.Budget, r.BlobRoom()-r.Floor), 0)
}

// MostBlobs is the most blob bytes the run holds at once: the window and
// the uploads in flight, never more than the blob room (past it the upload
// workers take turns).
func (r DiskRoom) MostBlobs() int64 {
	return min(r.Window()+r.Floor, r.BlobRoom())
}

// Fits reports whether the largest blob fits beside the headroom: below
// that no window helps, and the run must not start.
func (r DiskRoom) Fits() bool {
	return !r.Known || r.BlobRoom() >= diskuse.OnDisk(r.Largest)
}

// Need is the least free space the run needs: the largest blob and the
// headroom, less the blob copies already there.
func (r DiskRoom) Need() int64 {
	return max(diskuse.OnDisk(r.Largest)+r.Headroom-r.OwnBlobs, 0)
}

// Largest is the largest blob of refs.
func Largest(refs []repo.BlobRef) int64 {
	var n int64
	for _, b := range refs {
		n = max(n, b.Size)
	}
	return n
}

// refusal is the error of a run that must not start on this disk (nil
// when the largest blob fits): bad input while nothing was written to the
// new PDS, a stop to resume once the state dir is bound to it.
func (r DiskRoom) refusal(dir string, bound bool) error {
	if r.Fits() {
		return nil
	}
	msg := fmt.Sprintf("the disk holding %s has %.1f MB free; the blob copy needs %.1f MB there at least (the largest blob, %.1f MB, and %.1f MB kept free for the repo's and the state's temporary copies)",
		dir, units.MB(r.Free), units.MB(r.Need()), units.MB(r.Largest), units.MB(r.Headroom))
	hint := "free some space there, or pass {state-dir} on a larger disk, then run the same command again"
	if bound {
		return &failure.StageError{Stage: stage.ExportRepo, Err: errors.New(msg), Hint: hint}
	}
	return &failure.InputError{Msg: msg, Hint: hint + "; nothing was written to the new PDS"}
}
