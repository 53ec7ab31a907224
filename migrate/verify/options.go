package verify

import (
	"context"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/plc"
)

// Options says what to compare. Old and New are clients for the two
// PDSes; a client that is logged in (DID set) unlocks the checks that need
// the account's own session (preferences, a deactivated repo).
type Options struct {
	DID string
	// Document reads the DID's current document (the PLC audit log for a
	// did:plc, the published did.json for a did:web). The caller gives it
	// so that verify reads the document exactly as the migration does.
	Document func(ctx context.Context, did string) (*plc.State, error)
	Old      *pds.Client // nil: the old PDS is gone; compare against nothing
	New      *pds.Client
	NewPDS   string
	// ExpectOldDown: the old account must be deactivated.
	ExpectOldDown bool
	// Quick compares commit CIDs instead of downloading both repos, and
	// trusts listMissingBlobs instead of fetching every blob back.
	Quick bool
	// LeftBehind are the blobs the migration moved without at the user's
	// request (--skip-oversized-blobs): their absence is a warning that
	// names them, not a failure.
	LeftBehind []checkpoint.LeftBlob
	// Concurrency is the number of blobs fetched back at once (0:
	// transfer.DefaultConcurrency, as the migration's own transfers).
	Concurrency int
	TempDir     string
	// Relays and AppView are asked what they show of the account (checks
	// relay and appview); none named, no such check. RelayWait, if set,
	// gives each relay that long to catch up. Network is how they are
	// asked.
	Relays    []string
	AppView   string
	RelayWait time.Duration
	Network   network.Options

	// reads are the new PDS's answers the checks share (set by Run).
	reads *newReads
}

// loggedIn reports whether c holds a session of the account did: the
// checks that need one are skipped without it.
func loggedIn(c *pds.Client, did string) bool { return c != nil && c.DID() == did }
