package migrate

import (
	"cmp"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Options is everything one migration needs. The CLI fills it from flags
// and environment variables; batch fills it from an accounts file.
type Options struct {
	// Account is the handle or DID to move.
	Account         string
	OldPassword     string
	OldPDS          string // optional: skip resolving the account's PDS
	AuthFactorToken string // the sign-in code an old PDS with email 2FA asks for

	NewPDS      string
	NewHandle   string // default: the current handle
	NewEmail    string // default: the current email
	NewPassword string // default: the old password
	InviteCode  string

	PLCURL   string
	PLCToken string

	// StateDir is this account's state directory; "" means
	// DefaultStateDir(did).
	StateDir string
	// Concurrency is the number of blob transfers at once.
	Concurrency int
	// DownloadAhead says when the blobs start downloading ahead of the
	// uploads: AheadImport ("" too) or AheadUploads.
	DownloadAhead string
	// Yes answers every confirmation with yes.
	Yes             bool
	NoDeactivateOld bool

	// RotationKey, when set, signs the PLC operation locally instead of
	// asking the old PDS (no email token).
	RotationKey atcrypto.PrivateKey
	// AddRotationKeys are did:keys to put at the top of the rotation keys.
	AddRotationKeys []string

	// FromBackup is a backup directory used instead of the old PDS.
	FromBackup string

	// KeepData keeps repo.car and blobs/ in the state dir: no blob file
	// is deleted after its upload, nor anything after success.
	KeepData bool
	// DiskBudget bounds the blob bytes the prefetch keeps on disk at once
	// (0: transfer.DefaultDiskBudget).
	DiskBudget int64

	// SkipOversizedBlobs moves the account without the blobs that are
	// larger than the new PDS accepts, instead of refusing to start. They
	// are recorded in the state, and the final check and verify list them.
	SkipOversizedBlobs bool

	// Relays are the relays asked, after the switch, to crawl the new
	// PDS and whether they see the account active at its latest commit;
	// AppView is the AppView asked which handle it shows. None (empty)
	// turns the network stage off. RelayWait bounds the wait for each
	// relay to catch up (0: DefaultRelayWait).
	Relays    []string
	AppView   string
	RelayWait time.Duration

	// NewPDSHeaders are sent to the new PDS on every request (for example
	// the rate-limit bypass header).
	NewPDSHeaders http.Header
	// Retry overrides the HTTP retry policy (tests make it fast).
	Retry *pds.RetryPolicy
	// HTTPClient overrides the HTTP client for every server.
	HTTPClient *http.Client
	// Requests, when set, counts HTTP requests (benchmarks).
	Requests *atomic.Int64
	// Observer, when set, is told about every HTTP exchange of the run
	// (the --timeline picture); see pds.Observer.
	Observer pds.Observer

	Progress ui.Progress
	UI       ui.Prompter
}

func (o *Options) defaults() {
	o.NewPDS, o.OldPDS = servers.NormalURL(o.NewPDS), servers.NormalURL(o.OldPDS)
	o.PLCURL = cmp.Or(o.PLCURL, servers.DefaultPLC)
	if o.Concurrency <= 0 {
		o.Concurrency = transfer.DefaultConcurrency
	}
	if o.Progress == nil {
		o.Progress = ui.NopProgress{}
	}
	if o.UI == nil {
		o.UI = ui.NoPrompter{}
	}
	if o.NewPassword == "" {
		o.NewPassword = o.OldPassword
	}
	if o.RelayWait <= 0 {
		o.RelayWait = DefaultRelayWait
	}
	if o.DiskBudget <= 0 {
		o.DiskBudget = transfer.DefaultDiskBudget
	}
}

// DefaultRelayWait is how long a run waits for each relay to show the
// account at the new PDS's latest commit before it warns that the relay
// lags: a relay that follows the PDS shows it within seconds.
const DefaultRelayWait = 60 * time.Second

// target is what the run's state dir is for.
func (o *Options) target(did string) checkpoint.Target {
	return checkpoint.Target{DID: did, NewPDS: o.NewPDS, PLCURL: o.PLCURL, FromBackup: o.FromBackup}
}

// serversFor are the servers of a run with options o.
func serversFor(o Options) servers.Clients {
	return servers.New(o.HTTPClient, o.Retry, o.Requests, o.Progress).Observed(o.Observer)
}

// resolverFor is the identity reader of a run with options o.
func resolverFor(o Options, srv servers.Clients) identity.Resolver {
	return identity.Resolver{Servers: srv, PLC: srv.PLC(o.PLCURL), PLCURL: o.PLCURL, OldPDS: o.OldPDS, NewPDS: o.NewPDS, NewHeaders: o.NewPDSHeaders}
}

// clients are the client maker, the identity reader and the new PDS's
// client of a run with options o.
func (o Options) clients() (servers.Clients, identity.Resolver, *pds.Client) {
	srv := serversFor(o)
	return srv, resolverFor(o, srv), srv.PDS(o.NewPDS, o.NewPDSHeaders)
}
