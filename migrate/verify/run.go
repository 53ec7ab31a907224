package verify

import (
	"context"
	"sync"

	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// Run checks a migrated account independently of any checkpoint: the
// DID document, the records, the blobs, the preferences and both accounts'
// status. It reports each difference by name. The error is only for
// failures to check at all (a server that does not answer).
//
// The checks read independent things, so a Quick run (the migration's
// final check: a few dozen small reads) asks them all at once; a full one
// downloads both repos and fetches every blob back, and keeps them one
// after another so its memory and disk stay those of the largest.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = transfer.DefaultConcurrency
	}
	o.reads = newReadsOf(ctx, o)
	checks := []func(ctx context.Context, o Options, r *Report) error{
		verifyIdentity,
		verifyRecords,
		verifyBlobs,
		func(ctx context.Context, o Options, r *Report) error { verifyPreferences(ctx, o, r); return nil },
		func(ctx context.Context, o Options, r *Report) error { verifyStatus(ctx, o, r); return nil },
		func(ctx context.Context, o Options, r *Report) error { verifyNetwork(ctx, o, r); return nil },
	}
	parts := make([]Report, len(checks))
	errs := make([]error, len(checks))
	if o.Quick {
		var wg sync.WaitGroup
		for i, check := range checks {
			wg.Go(func() { errs[i] = check(ctx, o, &parts[i]) })
		}
		wg.Wait()
	} else {
		for i, check := range checks {
			if errs[i] = check(ctx, o, &parts[i]); errs[i] != nil {
				break
			}
		}
	}
	r := &Report{DID: o.DID}
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		r.Checks = append(r.Checks, parts[i].Checks...)
		r.Relays = append(r.Relays, parts[i].Relays...)
		if parts[i].AppView != nil {
			r.AppView = parts[i].AppView
		}
	}
	return r, nil
}
