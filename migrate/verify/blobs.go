package verify

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/repo"
)

// verifyBlobs runs the blob checks: what the new PDS reports missing (it
// needs the new account's session), the two blob lists compared, and, in
// the full form, every blob fetched back from the new PDS.
func verifyBlobs(ctx context.Context, o Options, r *Report) error {
	if loggedIn(o.New, o.DID) {
		missing, err := o.New.ListMissingBlobs(ctx)
		if err != nil {
			return fmt.Errorf("list missing blobs: %w", err)
		}
		var cids []string
		for _, b := range missing {
			cids = append(cids, b.CID)
		}
		verifyMissing(r, cids, o.LeftBehind)
	}
	// Both lists are read in the quick form too: two listing calls, and
	// the only way to see blobs the new PDS holds that the old one does
	// not (listMissingBlobs looks the other way). Without an old PDS the
	// quick form has nothing to compare the list with.
	var newList []string
	var newErr error
	if o.Old != nil || !o.Quick {
		newList, newErr = listAllBlobs(ctx, o.New, o.DID)
	}
	if err := verifyBlobLists(ctx, o, r, newList, newErr); err != nil {
		return err
	}
	if o.Quick {
		return nil
	}
	if newErr != nil {
		r.add("blobs", false, "cannot list the new PDS's blobs: %v", newErr)
		return nil
	}
	var problems []string
	// Fetch every blob back and check its bytes against its CID: a row in
	// the new PDS's database is not proof that the file is there. The
	// reference PDS lists a blob its records reference even when it never
	// received it: those left behind on request are not fetched (the
	// blobs-missing check names them).
	fetch, left := splitLeftBehind(newList, o.LeftBehind)
	var mu sync.Mutex
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for _, c := range fetch {
		wg.Add(1)
		sem <- struct{}{}
		go func(c string) {
			defer wg.Done()
			defer func() { <-sem }()
			err := o.New.FetchBlob(ctx, o.DID, c, func(body io.Reader, _ int64, _ string) error {
				_, err := repo.CheckCID(c, body)
				return err
			})
			if err != nil {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s: %v", c, err))
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	sort.Strings(problems)
	detail := fmt.Sprintf("%d blobs on the new PDS, each fetched and matching its CID", len(fetch))
	if len(left) > 0 {
		detail += fmt.Sprintf(" (and %d left behind at your request, not fetched)", len(left))
	}
	if len(problems) > 0 {
		detail = fmt.Sprintf("%d problem(s): %s", len(problems), strings.Join(units.FirstN(problems, 10), "; "))
	}
	r.add("blobs", len(problems) == 0, "%s", detail)
	return nil
}
