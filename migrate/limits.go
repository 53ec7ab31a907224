package migrate

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
	"github.com/atmigrate/atmigrate/repo"
)

// The new PDS's size limits, known before anything is written to it. PDS
// 0.5.x reports its upload limit in describeServer (blobUploadLimit); its
// import limit (PDS_MAX_REPO_IMPORT_SIZE) is not reported, and defaults to
// the upload limit. A blob over the upload limit can never be uploaded:
// running again does not help, so the run refuses before it creates the
// account, unless the user chose to move without those blobs.

// blobLimit is the new PDS's reported upload limit (0: not reported).
func (m *Migrator) blobLimit() int64 {
	if m.newInfo == nil {
		return 0
	}
	return m.newInfo.BlobUploadLimit
}

// oversized returns the blobs of refs larger than limit, largest first.
func oversized(refs []repo.BlobRef, limit int64) []repo.BlobRef {
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

// checkBlobLimit is the guard in front of create-account (refs: every
// blob of the export) and of the uploads (refs: the blobs to upload): a
// blob over the new PDS's reported limit stops the run as bad input, or,
// with --skip-oversized-blobs, is recorded as left behind.
func (m *Migrator) checkBlobLimit(refs []repo.BlobRef) error {
	limit := m.blobLimit()
	over := oversized(refs, limit)
	if len(over) == 0 {
		return nil
	}
	if !m.opts.SkipOversizedBlobs {
		return oversizedError(m.opts.NewPDS, over, limit)
	}
	for _, b := range over {
		m.leaveBehind(checkpoint.LeftBlob{CID: b.CID, Size: b.Size, MimeType: b.MimeType, Limit: limit})
	}
	return m.save()
}

// leaveBehind records a blob the migration moves without (once), and says so.
func (m *Migrator) leaveBehind(b checkpoint.LeftBlob) {
	known := false
	m.journal().Update(func(st *checkpoint.State) {
		for _, l := range st.Blobs.LeftBehind {
			known = known || l.CID == b.CID
		}
		if !known {
			st.Blobs.LeftBehind = append(st.Blobs.LeftBehind, b)
		}
	})
	if known {
		return
	}
	m.prog.Warn(fmt.Sprintf("moving without blob %s (%s, %s): %s (--skip-oversized-blobs)", b.CID, units.HumanBytes(b.Size), cmp.Or(b.MimeType, "no type"), limitWords(b.Limit)))
}

// movable is refs without the blobs that will not be moved: those over the
// new PDS's reported limit and those the user chose to leave behind. The
// prefetch and the disk floor count only these.
func (m *Migrator) movable(refs []repo.BlobRef) []repo.BlobRef {
	limit, left := m.blobLimit(), m.leftBehindSet()
	out := make([]repo.BlobRef, 0, len(refs))
	for _, b := range refs {
		if !left[b.CID] && (limit <= 0 || b.Size <= limit) {
			out = append(out, b)
		}
	}
	return out
}

// leftBehindSet is the CIDs the user chose to move without.
func (m *Migrator) leftBehindSet() map[string]bool {
	if m.st == nil {
		return nil
	}
	var set map[string]bool
	m.journal().Update(func(st *checkpoint.State) {
		set = make(map[string]bool, len(st.Blobs.LeftBehind))
		for _, b := range st.Blobs.LeftBehind {
			set[b.CID] = true
		}
	})
	return set
}

// withoutLeftBehind drops the blobs the user chose to move without.
func (m *Migrator) withoutLeftBehind(missing []pds.MissingBlob) []pds.MissingBlob {
	left := m.leftBehindSet()
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

// oversizedError names each blob the new PDS cannot take, its size and
// the limit, and what can be changed.
func oversizedError(host string, over []repo.BlobRef, limit int64) error {
	lines := make([]string, 0, len(over))
	for _, b := range over {
		lines = append(lines, fmt.Sprintf("%s  %s  %s", b.CID, units.HumanBytes(b.Size), cmp.Or(b.MimeType, "no type")))
	}
	return &failure.InputError{
		Msg: fmt.Sprintf("%d blob(s) are larger than %s accepts (%s), so they could never be uploaded:\n  %s",
			len(over), host, limitWords(limit), strings.Join(units.FirstN(lines, 20), "\n  ")),
		Hint: "nothing was written to the new PDS. Its admin can raise the limit (PDS_BLOB_UPLOAD_LIMIT on the reference PDS), " +
			"or pass --skip-oversized-blobs to move the account without these blobs (they stay on the old PDS only; the final check and `atmigrate verify` list them)",
	}
}

// tooLarge reports a server's refusal of a request body as too large (413
// PayloadTooLarge): the same body will be refused again.
func tooLarge(err error) bool {
	var ae *pds.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusRequestEntityTooLarge || ae.Name == "PayloadTooLarge")
}

// importRefusedError explains a refused import: too large for the new
// PDS's import limit, or imports switched off there.
func (m *Migrator) importRefusedError(err error) error {
	if tooLarge(err) {
		limit := "its import limit is not reported"
		if l := m.blobLimit(); l > 0 {
			limit = fmt.Sprintf("its upload limit, the default import limit, is %s", units.HumanBytes(l))
		}
		return failure.Input(err, "ask the new PDS's admin to raise PDS_MAX_REPO_IMPORT_SIZE (the reference PDS's import limit) above the repo's size, then run the same command again",
			"%s refused the %s repo as too large (%s)", m.opts.NewPDS, units.HumanBytes(m.st.Repo.Bytes), limit)
	}
	var ae *pds.APIError
	if errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "not accepting repo imports") {
		return failure.Input(err, "the new PDS's admin must allow imports (PDS_ACCEPTING_REPO_IMPORTS on the reference PDS); nothing else can move the repo there",
			"%s does not accept repo imports", m.opts.NewPDS)
	}
	return nil
}

// importSizeWarning says when the repo is larger than the new PDS's
// default import limit: the admin may have raised it, so it is a warning.
func (m *Migrator) importSizeWarning() string {
	l := m.blobLimit()
	if l <= 0 || m.st.Repo.Bytes <= l {
		return ""
	}
	return fmt.Sprintf("the repo (%s) is larger than %s's upload limit (%s), which is also its import limit unless its admin set PDS_MAX_REPO_IMPORT_SIZE: the import may be refused",
		units.HumanBytes(m.st.Repo.Bytes), m.opts.NewPDS, units.HumanBytes(l))
}

func limitWords(limit int64) string {
	if limit <= 0 {
		return "the new PDS refused it as too large; its limit is not reported"
	}
	return "its upload limit is " + units.HumanBytes(limit)
}
