package verify

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
)

// checkBlobsListed is the check that compares the two PDSes' blob lists.
const checkBlobsListed = "blobs-listed"

// extraBlobsHint says what blobs listed only on the new PDS mean.
const extraBlobsHint = "no record on the old PDS references these blobs any more, so nothing is missing and nothing needs doing " +
	"(most often they belonged to records deleted on the old PDS during the move: the reference PDS's importRepo " +
	"deletes such records but keeps their blobs)"

// verifyBlobLists compares the blobs the two PDSes list (sync.listBlobs),
// both ways. A blob the old PDS lists and the new one does not is missing:
// a failure. A blob only the new PDS lists is one no record on the old PDS
// references any more (the reference PDS's importRepo, applying a
// difference that deletes records, removes their records but not their
// blob rows): nothing is lost, so it is a warning, but the report says so
// and names them rather than counting a pass. When either list cannot be
// read the comparison is skipped with the reason, never dropped silently.
// The error is only for a cancelled context.
func verifyBlobLists(ctx context.Context, o Options, r *Report, newList []string, newErr error) error {
	if o.Old == nil {
		r.skip(checkBlobsListed, "no old PDS to compare with")
		return nil
	}
	if newErr != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.skip(checkBlobsListed, "cannot list the new PDS's blobs (%v)", newErr)
		return nil
	}
	oldList, err := listAllBlobs(ctx, o.Old, o.DID)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		r.skip(checkBlobsListed, "cannot list the old PDS's blobs (%v); pass the old password to read a deactivated account", err)
		return nil
	}
	missing, extra := setDifference(oldList, newList), setDifference(newList, oldList)
	missing, left := splitLeftBehind(missing, o.LeftBehind)
	counts := fmt.Sprintf("%d listed on the old PDS, %d on the new", len(oldList), len(newList))
	switch {
	case len(missing) > 0:
		detail := fmt.Sprintf("%d blob(s) not on the new PDS: %s", len(missing), strings.Join(units.FirstN(missing, 10), ", "))
		if len(extra) > 0 {
			detail += "; " + extraBlobs(extra)
		}
		r.add(checkBlobsListed, false, "%s (%s)", detail, counts)
	case len(extra) > 0 || len(left) > 0:
		var parts []string
		hint := extraBlobsHint
		if len(left) > 0 {
			parts = append(parts, leftBehindWords(left))
			hint = leftBehindHint
		}
		if len(extra) > 0 {
			parts = append(parts, extraBlobs(extra))
			if len(left) > 0 {
				hint += "; the extras: " + extraBlobsHint
			}
		}
		r.warn(checkBlobsListed, hint, "%s (%s)", strings.Join(parts, "; "), counts)
	default:
		r.add(checkBlobsListed, true, "the same %d blob(s) listed on both PDSes", len(newList))
	}
	return nil
}

// extraBlobs names the blobs only the new PDS lists: the first 10 and a count.
func extraBlobs(extra []string) string {
	return fmt.Sprintf("%d extra blob(s) on the new PDS: %s", len(extra), strings.Join(units.FirstN(extra, 10), ", "))
}

// setDifference lists, sorted, the strings of a that are not in b.
func setDifference(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
			in[s] = true // once, even if a lists it twice
		}
	}
	sort.Strings(out)
	return out
}

// listAllBlobs is every blob CID c lists for did (sync.listBlobs), page
// by page.
func listAllBlobs(ctx context.Context, c *pds.Client, did string) ([]string, error) {
	var all []string
	cursor := ""
	for {
		cids, next, err := c.ListBlobs(ctx, did, cursor, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, cids...)
		if next == "" || len(cids) == 0 {
			return all, nil
		}
		cursor = next
	}
}
