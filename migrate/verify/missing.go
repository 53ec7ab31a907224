package verify

import (
	"fmt"
	"strings"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
)

// leftBehindHint says what blobs left behind at the user's request mean.
const leftBehindHint = "these blobs are larger than the new PDS accepts and were left on the old PDS at your request " +
	"({skip-oversized-blobs}): the records that use them show them missing on the new PDS"

// verifyMissing is the blobs-missing check: what the new PDS reports
// missing, less what the migration left behind on purpose (a warning).
func verifyMissing(r *Report, missing []string, leftBehind []checkpoint.LeftBlob) {
	missing, left := splitLeftBehind(missing, leftBehind)
	switch {
	case len(missing) > 0:
		r.add("blobs-missing", false, "the new PDS reports %d missing blob(s): %s", len(missing), strings.Join(units.FirstN(missing, 10), ", "))
	case len(left) > 0:
		r.warn("blobs-missing", leftBehindHint, "the new PDS reports only the %s", leftBehindWords(left))
	default:
		r.add("blobs-missing", true, "the new PDS reports 0 missing blob(s)")
	}
}

// splitLeftBehind separates the CIDs the migration left behind on purpose.
func splitLeftBehind(cids []string, leftBehind []checkpoint.LeftBlob) (rest []string, left []checkpoint.LeftBlob) {
	byCID := make(map[string]checkpoint.LeftBlob, len(leftBehind))
	for _, b := range leftBehind {
		byCID[b.CID] = b
	}
	for _, c := range cids {
		if b, ok := byCID[c]; ok {
			left = append(left, b)
		} else {
			rest = append(rest, c)
		}
	}
	return rest, left
}

// leftBehindWords names the blobs left behind, with their sizes.
func leftBehindWords(left []checkpoint.LeftBlob) string {
	names := make([]string, 0, len(left))
	for _, b := range left {
		names = append(names, fmt.Sprintf("%s (%s)", b.CID, units.HumanBytes(b.Size)))
	}
	return fmt.Sprintf("%d blob(s) left behind at your request: %s", len(left), strings.Join(units.FirstN(names, 10), ", "))
}
