package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/repo"
)

// verifyRecords compares the two repos. The quick form compares commits
// (or the MST roots they sign); the full form downloads both repos and
// compares them record by record, so that a difference is named by path.
func verifyRecords(ctx context.Context, o Options, r *Report) error {
	if o.Old == nil {
		r.skip("records", "no old PDS to compare with")
		return nil
	}
	oldCID, _, err := o.Old.GetLatestCommit(ctx, o.DID)
	if err != nil {
		r.skip("records", "cannot read the old repo (%v); pass the old password to read a deactivated account", err)
		return nil
	}
	newCID, _, err := o.newLatest(ctx)
	if err != nil && loggedIn(o.New, o.DID) {
		if st, serr := o.New.CheckAccountStatus(ctx); serr == nil {
			newCID, err = st.RepoCommit, nil
		}
	}
	if err != nil {
		r.add("records", false, "cannot read the new repo: %v", err)
		return nil
	}
	if o.Quick {
		// Equal commits hold equal records; so do two commits over the
		// same MST root (a PDS that re-signs what it imports).
		if oldCID == newCID {
			r.add("records", true, "commit %s on both PDSes", newCID)
			return nil
		}
		oldData, oerr := commitData(ctx, o.Old, o.DID, oldCID)
		newData, nerr := "", error(nil)
		if commit, err := o.newCommit(ctx, newCID); err != nil {
			nerr = err
		} else {
			newData = commit.Data
		}
		switch {
		case oerr != nil:
			r.add("records", false, "the new PDS holds commit %s, the old %s, which it did not serve: %v", newCID, oldCID, oerr)
		case nerr != nil:
			r.add("records", false, "the new PDS holds commit %s, the old %s; the new one's blocks: %v", newCID, oldCID, nerr)
		default:
			r.add("records", oldData == newData, "commit %s on the new PDS, %s on the old, over data %s and %s", newCID, oldCID, newData, oldData)
		}
		return nil
	}
	dir := o.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	tmp, err := os.MkdirTemp(dir, "atmigrate-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	oldIdx, err := recordIndex(ctx, o.Old, o.DID, filepath.Join(tmp, "old.car"))
	if err != nil {
		return fmt.Errorf("read the old repo: %w", err)
	}
	newIdx, err := recordIndex(ctx, o.New, o.DID, filepath.Join(tmp, "new.car"))
	if err != nil {
		return fmt.Errorf("read the new repo: %w", err)
	}
	diffs := diffRecords(oldIdx, newIdx)
	detail := fmt.Sprintf("%d records on the old PDS, %d on the new, every CID equal", len(oldIdx), len(newIdx))
	if len(diffs) > 0 {
		detail = fmt.Sprintf("%d difference(s): %s", len(diffs), strings.Join(units.FirstN(diffs, 10), "; "))
	}
	r.add("records", len(diffs) == 0, "%s", detail)
	return nil
}

// commitData is the MST root (commit.data) of did's commit cid on c.
func commitData(ctx context.Context, c *pds.Client, did, cid string) (string, error) {
	commit, err := FetchCommit(ctx, c, did, cid)
	if err != nil {
		return "", err
	}
	return commit.Data, nil
}

// FetchCommit reads did's commit block cid from the PDS behind c
// (sync.getBlocks) and decodes it.
func FetchCommit(ctx context.Context, c *pds.Client, did, cid string) (*repo.Commit, error) {
	car, err := c.GetBlocks(ctx, did, cid)
	if err != nil {
		return nil, err
	}
	return repo.CommitFromCAR(ctx, car, cid)
}

// recordIndex downloads did's repo from c to path and indexes its
// records (path to CID).
func recordIndex(ctx context.Context, c *pds.Client, did, path string) (map[string]string, error) {
	if _, err := c.DownloadRepo(ctx, did, "", path, nil, nil); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx, _, err := repo.RecordIndex(ctx, f)
	return idx, err
}

// diffRecords names each record missing, different or extra on the new
// side, sorted so that the same difference always reads the same.
func diffRecords(old, new map[string]string) []string {
	var d []string
	for k, v := range old {
		nv, ok := new[k]
		switch {
		case !ok:
			d = append(d, "missing on the new PDS: "+k)
		case nv != v:
			d = append(d, fmt.Sprintf("differs: %s (%s, old %s)", k, nv, v))
		}
	}
	for k := range new {
		if _, ok := old[k]; !ok {
			d = append(d, "only on the new PDS: "+k)
		}
	}
	sort.Strings(d)
	return d
}
