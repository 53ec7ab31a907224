package batch

import (
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// DefaultConcurrency is the number of accounts in their data stages at
// once (runAccounts).
const DefaultConcurrency = 3

// Options configures a batch.
type Options struct {
	Accounts []Account
	// StateDir holds batch.json, the reports and one state dir per DID.
	StateDir string
	// Concurrency is the number of accounts in their data stages at once;
	// up to twice as many are in flight (runAccounts).
	Concurrency int
	// BlobConcurrency is the number of blob transfers shared by the
	// accounts in their data stages (at most Concurrency of them, the only
	// ones that move blobs); each gets max(2, BlobConcurrency/Concurrency).
	BlobConcurrency int
	// Base holds what every account shares: NewPDS, OldPDS, PLCURL, Yes,
	// RotationKey (the old PDS's PLC rotation key), NewPDSHeaders, Retry,
	// HTTPClient. Per-account fields are taken from the accounts file.
	Base migrate.Options
	// NewPDSAdminPassword creates one invite code per account when the new
	// PDS requires invites and the row has none.
	NewPDSAdminPassword string
	// Tokens maps an account (as in the file, lower case) or its DID to
	// its PLC email token.
	Tokens map[string]string
	// RetryFailed also runs accounts that failed with a non-transient error.
	RetryFailed bool

	// Say is how the report says the choices the core's words name (see
	// failure.Words); nil leaves them as {choice}.
	Say func(string) string

	// RelayHostLimit is the account limit each relay is assumed to give
	// the new PDS's host, for the warning before the start (0:
	// network.DefaultAccountLimit, a relay's default for a new host).
	RelayHostLimit int64
	// Warn receives the warnings about the whole batch (a relay that
	// throttles the new PDS's host); nil: none are said.
	Warn func(string)

	// AccountProgress returns where one account's run reports; nil: nowhere.
	AccountProgress func(account string) ui.Progress
	// OnUpdate is called after every status change, with the entry and the
	// batch's counts (of the accounts in this run's file).
	OnUpdate func(e Entry, s Summary)
}

// prepare refuses options no account could run with and fills in the
// defaults. It runs before anything is written: a refused batch leaves
// the state dir as it was.
func (o *Options) prepare() error {
	if o.StateDir == "" {
		return &failure.InputError{Msg: "no state dir for the batch", Hint: "pass {state-dir}"}
	}
	if o.Base.NewPDS == "" {
		return &failure.InputError{Msg: "no new PDS given", Hint: "pass {new-pds}"}
	}
	if !o.Base.Yes {
		return &failure.InputError{Msg: "a batch cannot ask for confirmation", Hint: "pass {yes} to confirm every account's PLC operation in advance"}
	}
	if len(o.Accounts) == 0 {
		return &failure.InputError{Msg: "no accounts given", Hint: "check {accounts}"}
	}
	// Normalized once here, so batch.json's newPds compares equal across
	// runs however the URL was typed.
	o.Base.NewPDS = servers.NormalURL(o.Base.NewPDS)
	o.Base.OldPDS = servers.NormalURL(o.Base.OldPDS)
	if o.Base.PLCURL == "" {
		o.Base.PLCURL = servers.DefaultPLC
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BlobConcurrency <= 0 {
		o.BlobConcurrency = transfer.DefaultConcurrency
	}
	return nil
}
