package migrate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// VerifyOptions says what to compare. Old and New are clients for the two
// PDSes; a client that is logged in (DID set) unlocks the checks that need
// the account's own session (preferences, a deactivated repo).
type VerifyOptions struct {
	DID string
	PLC *plc.Client
	// HTTPClient fetches did:web documents (nil: a default client).
	HTTPClient *http.Client
	Old        *pds.Client // nil: the old PDS is gone; compare against nothing
	New        *pds.Client
	NewPDS     string
	// ExpectOldDown: the old account must be deactivated.
	ExpectOldDown bool
	// Quick compares commit CIDs instead of downloading both repos, and
	// trusts listMissingBlobs instead of fetching every blob back.
	Quick bool
	// LeftBehind are the blobs the migration moved without at the user's
	// request (--skip-oversized-blobs): their absence is a warning that
	// names them, not a failure.
	LeftBehind  []checkpoint.LeftBlob
	Concurrency int
	TempDir     string
}

// Check is one named verification, in one of four states: passed (OK),
// failed (neither OK nor Skipped), skipped (it could not run; Detail says
// why), or passed with a warning (OK and Warn): the two sides differ in a
// way that loses nothing, which a report must still say rather than count
// as a pass. A warning keeps OK true so that it never fails a migration or
// `verify`, and so that readers of the JSON who know only "ok" still read
// it as no failure.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Warn    bool   `json:"warn,omitempty"`
	Detail  string `json:"detail"`
	// Hint, on a warning, says what it means and what (if anything) to do.
	Hint string `json:"hint,omitempty"`
}

// Message is the check on one line: its name, its detail and, for a
// warning, its hint.
func (c Check) Message() string {
	msg := c.Name + ": " + c.Detail
	if c.Hint != "" {
		msg += "; " + c.Hint
	}
	return msg
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	DID    string  `json:"did"`
	Checks []Check `json:"checks"`
}

// OK reports whether every check that ran passed.
func (r *VerifyReport) OK() bool {
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			return false
		}
	}
	return true
}

// Problems lists the failed checks, one per line.
func (r *VerifyReport) Problems() string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return strings.Join(out, "\n  ")
}

// Warnings lists the checks that passed with a warning.
func (r *VerifyReport) Warnings() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Warn && c.OK && !c.Skipped {
			out = append(out, c)
		}
	}
	return out
}

// Summary is a one-line account of what was checked. A check that warns
// is counted as a warning, not as passed: the summary never says every
// check passed while the two sides differ.
func (r *VerifyReport) Summary() string {
	ok, warned, skipped := 0, 0, 0
	for _, c := range r.Checks {
		switch {
		case c.Skipped:
			skipped++
		case c.OK && c.Warn:
			warned++
		case c.OK:
			ok++
		}
	}
	s := fmt.Sprintf("%d checks passed", ok)
	if warned > 0 {
		s += fmt.Sprintf(", %d warning%s", warned, plural(warned))
	}
	if skipped > 0 {
		s += fmt.Sprintf(", %d skipped", skipped)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (r *VerifyReport) add(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// warn records a check that passed with a warning; hint says what it means.
func (r *VerifyReport) warn(name, hint, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Warn: true, Detail: fmt.Sprintf(format, args...), Hint: hint})
}

func (r *VerifyReport) skip(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Skipped: true, Detail: fmt.Sprintf(format, args...)})
}

// Verify checks a migrated account independently of any checkpoint: the
// DID document, the records, the blobs, the preferences and both accounts'
// status. It reports each difference by name. The error is only for
// failures to check at all (a server that does not answer).
func Verify(ctx context.Context, o VerifyOptions) (*VerifyReport, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	r := &VerifyReport{DID: o.DID}
	if err := verifyIdentity(ctx, o, r); err != nil {
		return nil, err
	}
	if err := verifyRecords(ctx, o, r); err != nil {
		return nil, err
	}
	if err := verifyBlobs(ctx, o, r); err != nil {
		return nil, err
	}
	verifyPreferences(ctx, o, r)
	verifyStatus(ctx, o, r)
	return r, nil
}

func loggedIn(c *pds.Client, did string) bool { return c != nil && c.DID() == did }

func verifyIdentity(ctx context.Context, o VerifyOptions, r *VerifyReport) error {
	ids := identity.Resolver{Servers: servers.New(o.HTTPClient, nil, nil, nil), PLC: o.PLC}
	st, err := ids.State(ctx, o.DID)
	if err != nil {
		return fmt.Errorf("read the DID's document: %w", err)
	}
	endpoint := servers.NormalURL(st.Endpoint())
	r.add("did-endpoint", endpoint == servers.NormalURL(o.NewPDS), "atproto_pds is %s (want %s)", cmp.Or(endpoint, "(none)"), o.NewPDS)
	if !loggedIn(o.New, o.DID) {
		r.skip("did-signing-key", "needs the new account's password")
		r.skip("did-rotation-keys", "needs the new account's password")
		return nil
	}
	cred, err := o.New.GetRecommendedDidCredentials(ctx)
	if err != nil {
		return fmt.Errorf("get the new PDS's recommended credentials: %w", err)
	}
	want := cred.VerificationMethods["atproto"]
	r.add("did-signing-key", st.SigningKey() == want, "atproto key is %s (the new PDS signs with %s)", st.SigningKey(), want)
	var missing []string
	for _, k := range cred.RotationKeys {
		if !st.HasRotationKey(k) {
			missing = append(missing, k)
		}
	}
	if identity.IsDIDWeb(o.DID) {
		return nil
	}
	r.add("did-rotation-keys", len(missing) == 0, "rotation keys %s; new PDS key(s) missing: %d", strings.Join(st.RotationKeys(), ", "), len(missing))
	return nil
}

func verifyRecords(ctx context.Context, o VerifyOptions, r *VerifyReport) error {
	if o.Old == nil {
		r.skip("records", "no old PDS to compare with")
		return nil
	}
	oldCID, _, err := o.Old.GetLatestCommit(ctx, o.DID)
	if err != nil {
		r.skip("records", "cannot read the old repo (%v); pass the old password to read a deactivated account", err)
		return nil
	}
	newCID, _, err := o.New.GetLatestCommit(ctx, o.DID)
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
		newData, nerr := commitData(ctx, o.New, o.DID, newCID)
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
	commit, err := fetchCommit(ctx, c, did, cid)
	if err != nil {
		return "", err
	}
	return commit.Data, nil
}

// fetchCommit reads did's commit block cid from the PDS behind c
// (sync.getBlocks) and decodes it.
func fetchCommit(ctx context.Context, c *pds.Client, did, cid string) (*repo.Commit, error) {
	car, err := c.GetBlocks(ctx, did, cid)
	if err != nil {
		return nil, err
	}
	return repo.CommitFromCAR(ctx, car, cid)
}

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

func verifyBlobs(ctx context.Context, o VerifyOptions, r *VerifyReport) error {
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

func verifyPreferences(ctx context.Context, o VerifyOptions, r *VerifyReport) {
	if !loggedIn(o.Old, o.DID) || !loggedIn(o.New, o.DID) {
		r.skip("preferences", "needs both accounts' passwords")
		return
	}
	a, err := o.Old.GetPreferences(ctx)
	if err != nil {
		r.add("preferences", false, "cannot read the old preferences: %v", err)
		return
	}
	b, err := o.New.GetPreferences(ctx)
	if err != nil {
		r.add("preferences", false, "cannot read the new preferences: %v", err)
		return
	}
	ca, cb := canonicalJSON(a), canonicalJSON(b)
	r.add("preferences", bytes.Equal(ca, cb), "%d bytes on the old PDS, %d on the new", len(ca), len(cb))
}

// canonicalJSON re-encodes JSON with sorted keys so that key order does
// not count as a difference.
func canonicalJSON(raw json.RawMessage) []byte {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

func verifyStatus(ctx context.Context, o VerifyOptions, r *VerifyReport) {
	if rs, err := o.New.GetRepoStatus(ctx, o.DID); err == nil {
		r.add("new-active", rs.Active, "the new account is %s", statusWord(rs))
	} else {
		r.add("new-active", false, "cannot read the new account's status: %v", err)
	}
	if !o.ExpectOldDown || o.Old == nil {
		return
	}
	if rs, err := o.Old.GetRepoStatus(ctx, o.DID); err == nil {
		r.add("old-deactivated", !rs.Active, "the old account is %s", statusWord(rs))
	} else {
		r.add("old-deactivated", false, "cannot read the old account's status: %v", err)
	}
}

func statusWord(rs *pds.RepoStatus) string {
	if rs.Active {
		return "active"
	}
	return cmp.Or(rs.Status, "inactive")
}
