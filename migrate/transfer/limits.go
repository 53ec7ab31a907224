package transfer

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// The new PDS's size limits, known before anything is written to it. PDS
// 0.5.x reports its upload limit in describeServer (blobUploadLimit); its
// import limit (PDS_MAX_REPO_IMPORT_SIZE) is not reported, and defaults to
// the upload limit. A blob over the upload limit can never be uploaded:
// running again does not help, so the run refuses before it creates the
// account, unless the user chose to move without those blobs.

// Limits are the new PDS's size limits and what the user chose to do about
// blobs over them. The blobs left behind are recorded in the state.
type Limits struct {
	NewPDS string
	// Upload is the new PDS's reported upload limit (0: not reported).
	Upload int64
	// SkipOversized moves the account without the blobs over the limit
	// instead of refusing to start.
	SkipOversized bool
	Journal       *checkpoint.Journal
	Progress      ui.Progress
}

// Oversized returns the blobs of refs larger than limit, largest first.
func Oversized(refs []repo.BlobRef, limit int64) []repo.BlobRef {
	if limit <= 0 {
		return nil
	}
	var out []repo.BlobRef
	for _, b := range refs {
		if b.Size > limit {
			out = append(out, b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Size > out[j].Size })
	return out
}

// Check is the guard in front of create-account (refs: every blob of the
// export) and of the uploads (refs: the blobs to upload): a blob over the
// new PDS's reported limit stops the run as bad input, or, when the user
// chose so, is recorded as left behind.
func (l *Limits) Check(refs []repo.BlobRef) error {
	over := Oversized(refs, l.Upload)
	if len(over) == 0 {
		return nil
	}
	return l.leaveOrRefuse(over)
}

// RefusedAsTooLarge handles the uploads the new PDS refused as too large
// (413), which happens when it does not report its limit (PDS 0.4.x):
// running again cannot help, so they are left behind when the user said
// so, and are bad input otherwise. Those left behind leave failures.
func (l *Limits) RefusedAsTooLarge(refs []repo.BlobRef, failures map[string]error) error {
	var over []repo.BlobRef
	for _, b := range refs {
		if err := failures[b.CID]; err != nil && TooLarge(err) {
			over = append(over, b)
		}
	}
	if len(over) == 0 {
		return nil
	}
	if err := l.leaveOrRefuse(over); err != nil {
		return err
	}
	for _, b := range over {
		delete(failures, b.CID)
	}
	return nil
}

func (l *Limits) leaveOrRefuse(over []repo.BlobRef) error {
	if !l.SkipOversized {
		return OversizedError(l.NewPDS, over, l.Upload)
	}
	for _, b := range over {
		l.leaveBehind(checkpoint.LeftBlob{CID: b.CID, Size: b.Size, MimeType: b.MimeType, Limit: l.Upload})
	}
	return l.Journal.Save()
}

// leaveBehind records a blob the migration moves without (once), and says so.
func (l *Limits) leaveBehind(b checkpoint.LeftBlob) {
	known := false
	l.Journal.Update(func(st *checkpoint.State) {
		for _, have := range st.Blobs.LeftBehind {
			known = known || have.CID == b.CID
		}
		if !known {
			st.Blobs.LeftBehind = append(st.Blobs.LeftBehind, b)
		}
	})
	if !known {
		l.Progress.Warn(fmt.Sprintf("moving without blob %s (%s, %s): %s ({skip-oversized-blobs})", b.CID, units.HumanBytes(b.Size), cmp.Or(b.MimeType, "no type"), limitWords(b.Limit)))
	}
}

// Movable is refs without the blobs that will not be moved: those over the
// new PDS's reported limit and those the user chose to leave behind. The
// prefetch and the disk floor count only these.
func (l *Limits) Movable(refs []repo.BlobRef) []repo.BlobRef {
	left := l.LeftBehind()
	out := make([]repo.BlobRef, 0, len(refs))
	for _, b := range refs {
		if !left[b.CID] && (l.Upload <= 0 || b.Size <= l.Upload) {
			out = append(out, b)
		}
	}
	return out
}

// LeftBehind is the set of CIDs the user chose to move without.
func (l *Limits) LeftBehind() map[string]bool {
	set := map[string]bool{}
	l.Journal.Update(func(st *checkpoint.State) {
		for _, b := range st.Blobs.LeftBehind {
			set[b.CID] = true
		}
	})
	return set
}

// WithoutLeftBehind drops the blobs the user chose to move without.
func (l *Limits) WithoutLeftBehind(missing []pds.MissingBlob) []pds.MissingBlob {
	left := l.LeftBehind()
	if len(left) == 0 {
		return missing
	}
	out := missing[:0:0]
	for _, b := range missing {
		if !left[b.CID] {
			out = append(out, b)
		}
	}
	return out
}

// OversizedError names each blob the new PDS cannot take, its size and
// the limit, and what can be changed.
func OversizedError(host string, over []repo.BlobRef, limit int64) error {
	lines := make([]string, 0, len(over))
	for _, b := range over {
		lines = append(lines, fmt.Sprintf("%s  %s  %s", b.CID, units.HumanBytes(b.Size), cmp.Or(b.MimeType, "no type")))
	}
	return &failure.InputError{
		Msg: fmt.Sprintf("%d blob(s) are larger than %s accepts (%s), so they could never be uploaded:\n  %s",
			len(over), host, limitWords(limit), strings.Join(units.FirstN(lines, 20), "\n  ")),
		Hint: "nothing was written to the new PDS. Its admin can raise the limit (PDS_BLOB_UPLOAD_LIMIT on the reference PDS), " +
			"or pass {skip-oversized-blobs} to move the account without these blobs (they stay on the old PDS only; the final check and `atmigrate verify` list them)",
	}
}

// TooLarge reports a server's refusal of a request body as too large (413
// PayloadTooLarge): the same body will be refused again.
func TooLarge(err error) bool {
	var ae *pds.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusRequestEntityTooLarge || ae.Name == "PayloadTooLarge")
}

// ImportRefused explains a refused import of a repo of repoBytes: too
// large for the new PDS's import limit, or imports switched off there. It
// is nil for any other failure.
func (l *Limits) ImportRefused(err error, repoBytes int64) error {
	if TooLarge(err) {
		limit := "its import limit is not reported"
		if l.Upload > 0 {
			limit = fmt.Sprintf("its upload limit, the default import limit, is %s", units.HumanBytes(l.Upload))
		}
		return failure.Input(err, "ask the new PDS's admin to raise PDS_MAX_REPO_IMPORT_SIZE (the reference PDS's import limit) above the repo's size, then run the same command again",
			"%s refused the %s repo as too large (%s)", l.NewPDS, units.HumanBytes(repoBytes), limit)
	}
	var ae *pds.APIError
	if errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "not accepting repo imports") {
		return failure.Input(err, "the new PDS's admin must allow imports (PDS_ACCEPTING_REPO_IMPORTS on the reference PDS); nothing else can move the repo there",
			"%s does not accept repo imports", l.NewPDS)
	}
	return nil
}

// ImportSizeWarning says when a repo of repoBytes is larger than the new
// PDS's default import limit: the admin may have raised it, so it is a
// warning, not a refusal.
func (l *Limits) ImportSizeWarning(repoBytes int64) string {
	if l.Upload <= 0 || repoBytes <= l.Upload {
		return ""
	}
	return fmt.Sprintf("the repo (%s) is larger than %s's upload limit (%s), which is also its import limit unless its admin set PDS_MAX_REPO_IMPORT_SIZE: the import may be refused",
		units.HumanBytes(repoBytes), l.NewPDS, units.HumanBytes(l.Upload))
}

func limitWords(limit int64) string {
	if limit <= 0 {
		return "the new PDS refused it as too large; its limit is not reported"
	}
	return "its upload limit is " + units.HumanBytes(limit)
}
