package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/timeline"
)

// FloorRun is the bare sequence of server calls on the twin account, one
// stage after another, with no verification, checkpoint, file or progress:
// what any tool must at least wait for if it does one thing at a time.
type FloorRun struct {
	Account  float64 `json:"accountSeconds"`  // createSession A, describeServer B, getServiceAuth A, createAccount B
	Export   float64 `json:"exportSeconds"`   // sync.getRepo A, into memory
	Import   float64 `json:"importSeconds"`   // repo.importRepo B, from memory
	Blobs4   float64 `json:"blobs4Seconds"`   // listMissingBlobs B, then getBlob A -> uploadBlob B, 4 at a time (half the blobs, scaled)
	Blobs8   float64 `json:"blobs8Seconds"`   // the same, 8 at a time (the other half, scaled)
	Blobs    float64 `json:"blobsSeconds"`    // the better of the two
	Prefs    float64 `json:"prefsSeconds"`    // getPreferences A, putPreferences B
	Identity float64 `json:"identitySeconds"` // getRecommendedDidCredentials B, signPlcOperation A, submitPlcOperation B
	Activate float64 `json:"activateSeconds"` // activateAccount B, deactivateAccount A
	// Data is account + export + import + blobs + preferences: the part
	// before the identity switch.
	Data float64 `json:"dataSeconds"`
	// Total adds the identity switch, activation and deactivation: the
	// same work as a whole `atmigrate migrate`.
	Total     float64 `json:"totalSeconds"`
	RepoBytes int64   `json:"repoBytes"`
	BlobBytes int64   `json:"blobBytes"`
	BlobCount int     `json:"blobs"`
}

// rawHTTP fetches the public sync endpoints (getRepo, getBlob) with plain
// net/http over keep-alive connections.
var rawHTTP = &http.Client{Transport: &http.Transport{
	DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	MaxIdleConnsPerHost: 32,
	IdleConnTimeout:     90 * time.Second,
}}

func rawGet(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return io.ReadAll(resp.Body)
}

// runFloor moves acct from A to B with the bare calls. Half the blobs are
// copied 4 at a time, the other half 8 at a time, and the better rate,
// scaled to all blobs, counts; c4First says which goes first. rec, when
// not nil, records the steps (under the names of atmigrate's stages) and
// every request, for the timeline.
func runFloor(ctx context.Context, nw *localnet.Network, acct *localnet.Account, token string, c4First bool, rec *timeline.Recorder) (*FloorRun, error) {
	f := &FloorRun{}
	obs := recObserver(rec)
	a := pds.New(nw.A.URL, pds.Options{Observer: obs})
	b := pds.New(nw.B.URL, pds.Options{Observer: obs})
	raw := pds.ObserveClient(rawHTTP, obs)
	step := &floorSteps{rec: rec}
	lap := func(d *float64, start time.Time) { *d = time.Since(start).Seconds(); step.end() }

	t := step.begin(stage.CreateAccount)
	if _, err := a.Login(ctx, acct.DID, acct.Password, ""); err != nil {
		return nil, err
	}
	info, err := b.DescribeServer(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := a.GetServiceAuth(ctx, info.DID, "com.atproto.server.createAccount", time.Minute)
	if err != nil {
		return nil, err
	}
	b.SetServiceAuth(tok)
	if _, err := b.CreateAccount(ctx, pds.CreateAccountInput{DID: acct.DID, Handle: acct.Handle, Email: acct.Email, Password: acct.Password}); err != nil {
		return nil, fmt.Errorf("createAccount: %w", err)
	}
	lap(&f.Account, t)

	t = step.begin(stage.ExportRepo)
	car, err := rawGet(ctx, raw, nw.A.URL+"/xrpc/com.atproto.sync.getRepo?did="+url.QueryEscape(acct.DID))
	if err != nil {
		return nil, err
	}
	lap(&f.Export, t)
	f.RepoBytes = int64(len(car))

	t = step.begin(stage.ImportRepo)
	if err := b.ImportRepo(ctx, bytes.NewReader(car), int64(len(car)), nil); err != nil {
		return nil, fmt.Errorf("importRepo: %w", err)
	}
	lap(&f.Import, t)
	car = nil

	t = step.begin(stage.Blobs)
	missing, err := b.ListMissingBlobs(ctx)
	if err != nil {
		return nil, err
	}
	list := time.Since(t)
	f.BlobCount = len(missing)
	// Both concurrencies are measured on first uploads (a blob sent twice
	// costs the new PDS less the second time): each takes half the blobs,
	// and its time is scaled to all of them. Which half goes first
	// alternates between runs.
	half := len(missing) / 2
	parts := []struct {
		conc  int
		blobs []pds.MissingBlob
	}{{4, missing[:half]}, {8, missing[half:]}}
	if !c4First {
		parts[0].blobs, parts[1].blobs = missing[half:], missing[:half]
		parts[0], parts[1] = parts[1], parts[0]
	}
	for _, p := range parts {
		if len(p.blobs) == 0 {
			continue
		}
		d, n, err := copyBlobs(ctx, raw, nw.A.URL, acct.DID, b, p.blobs, p.conc)
		if err != nil {
			return nil, fmt.Errorf("blobs at %d: %w", p.conc, err)
		}
		f.BlobBytes += n
		all := list + time.Duration(float64(d)*float64(len(missing))/float64(len(p.blobs)))
		if p.conc == 4 {
			f.Blobs4 = all.Seconds()
		} else {
			f.Blobs8 = all.Seconds()
		}
	}
	f.Blobs = min(f.Blobs4, f.Blobs8)
	step.end()

	t = step.begin(stage.Preferences)
	prefs, err := a.GetPreferences(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.PutPreferences(ctx, prefs); err != nil {
		return nil, err
	}
	lap(&f.Prefs, t)

	t = step.begin(stage.Identity)
	cred, err := b.GetRecommendedDidCredentials(ctx)
	if err != nil {
		return nil, err
	}
	op, err := a.SignPlcOperation(ctx, token, cred)
	if err != nil {
		return nil, err
	}
	if err := b.SubmitPlcOperation(ctx, op); err != nil {
		return nil, err
	}
	lap(&f.Identity, t)

	t = step.begin(stage.Activate)
	if err := b.ActivateAccount(ctx); err != nil {
		return nil, err
	}
	if err := a.DeactivateAccount(ctx); err != nil {
		return nil, err
	}
	lap(&f.Activate, t)

	f.Data = f.Account + f.Export + f.Import + f.Blobs + f.Prefs
	f.Total = f.Data + f.Identity + f.Activate
	return f, nil
}

// copyBlobs downloads each blob from A into memory and uploads it to B,
// conc at a time, each worker going download -> upload -> next.
func copyBlobs(ctx context.Context, raw *http.Client, aURL, did string, b *pds.Client, blobs []pds.MissingBlob, conc int) (time.Duration, int64, error) {
	start := time.Now()
	jobs := make(chan string)
	var mu sync.Mutex
	var firstErr error
	var total int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cid := range jobs {
				body, err := rawGet(ctx, raw, aURL+"/xrpc/com.atproto.sync.getBlob?did="+url.QueryEscape(did)+"&cid="+url.QueryEscape(cid))
				if err == nil {
					_, err = b.UploadBlob(ctx, bytes.NewReader(body), int64(len(body)), "image/jpeg")
				}
				mu.Lock()
				total += int64(len(body))
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, m := range blobs {
		jobs <- m.CID
	}
	close(jobs)
	wg.Wait()
	return time.Since(start), total, firstErr
}
