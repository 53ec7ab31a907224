package verify

import (
	"context"

	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// Run checks a migrated account independently of any checkpoint: the
// DID document, the records, the blobs, the preferences and both accounts'
// status. It reports each difference by name. The error is only for
// failures to check at all (a server that does not answer).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = transfer.DefaultConcurrency
	}
	r := &Report{DID: o.DID}
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
	verifyNetwork(ctx, o, r)
	return r, nil
}
