package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// Status is where one account of a batch stands.
type Status string

// Batch statuses.
const (
	Pending         Status = "pending"
	Running         Status = "running"
	Migrated        Status = "migrated"
	Failed          Status = "failed"           // retried on the next run
	FailedPermanent Status = "failed-permanent" // bad input: retried with --retry-failed
	AwaitingToken   Status = "awaiting-token"   // data on the new PDS; finish with --tokens
)

// lockName is the batch's lock inside its state dir: one batch at a time.
const lockName = "batch.lock"

// IndexFile is the batch index inside a batch's state dir; each
// account's own checkpoint is <dir>/<did>/state.json.
const IndexFile = "batch.json"

// Entry is one account of a batch: what batch.json, the report and
// `atmigrate batch status` show. It holds no secret.
type Entry struct {
	Account string `json:"account"`
	DID     string `json:"did,omitempty"`
	Status  Status `json:"status"`
	// Stage is the last stage the account reached.
	Stage   stage.Stage `json:"stage,omitempty"`
	Error   string      `json:"error,omitempty"`
	Hint    string      `json:"hint,omitempty"`
	Records int         `json:"records"`
	Blobs   int         `json:"blobs"`
	Bytes   int64       `json:"bytes"`
	Seconds float64     `json:"seconds"` // summed over every run
	Runs    int         `json:"runs"`
	// PLCMethod is how the PLC operation was signed: rotation-key or
	// email-token.
	PLCMethod string `json:"plcMethod,omitempty"`
	// Relays is what each relay showed of the account at the end of its
	// last run; Throttled names the relays that held it throttled (past
	// the host's account limit).
	Relays    []network.RelayView `json:"relays,omitempty"`
	Throttled []string            `json:"throttledBy,omitempty"`
	Updated   time.Time           `json:"updated"`
}

// Index is batch.json: every account the state dir has seen.
type Index struct {
	Version  int      `json:"version"`
	NewPDS   string   `json:"newPds"`
	Accounts []*Entry `json:"accounts"`
	// RelayHosts is how each relay saw the new PDS's host before the
	// last run started.
	RelayHosts []network.HostView `json:"relayHosts,omitempty"`
}

// Summary counts accounts by status.
type Summary struct {
	Total           int   `json:"total"`
	Migrated        int   `json:"migrated"`
	Failed          int   `json:"failed"`
	FailedPermanent int   `json:"failedPermanent"`
	AwaitingToken   int   `json:"awaitingToken"`
	Pending         int   `json:"pending"`
	Running         int   `json:"running"`
	Bytes           int64 `json:"bytes"`
	// Throttled counts the migrated accounts a relay holds throttled.
	Throttled int `json:"throttled,omitempty"`
}

// Done counts the accounts that reached a status of their own (everything
// but pending and running).
func (s Summary) Done() int { return s.Total - s.Pending - s.Running }

// Summary counts entries by status.
func (x *Index) Summary() Summary { return summarize(x.Accounts) }

func summarize(entries []*Entry) Summary {
	s := Summary{Total: len(entries)}
	for _, e := range entries {
		switch e.Status {
		case Migrated:
			s.Migrated++
			s.Bytes += e.Bytes
			if len(e.Throttled) > 0 {
				s.Throttled++
			}
		case Failed:
			s.Failed++
		case FailedPermanent:
			s.FailedPermanent++
		case AwaitingToken:
			s.AwaitingToken++
		case Running:
			s.Running++
		default:
			s.Pending++
		}
	}
	return s
}

func (x *Index) find(account string) *Entry {
	for _, e := range x.Accounts {
		if strings.EqualFold(e.Account, account) {
			return e
		}
	}
	return nil
}

// LoadIndex reads dir/batch.json; a missing file returns (nil, nil).
func LoadIndex(dir string) (*Index, error) {
	var x Index
	found, err := fsutil.ReadJSON(filepath.Join(dir, IndexFile), &x)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("read the batch index: %w", err)
		}
		return nil, err
	}
	if x.Version > 1 {
		return nil, fmt.Errorf("%s was written by a newer atmigrate", filepath.Join(dir, IndexFile))
	}
	return &x, nil
}

func (x *Index) save(dir string) error {
	x.Version = 1
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, IndexFile), append(b, '\n'), 0o600)
}

// ErrLocked means another batch is running on the same state dir.
var ErrLocked = errors.New("another batch is running on this state dir")

// lockDir takes the state dir's batch lock, or refuses with ErrLocked: two
// batches writing one batch.json would lose each other's entries.
func lockDir(dir string) (unlock func(), err error) {
	unlock, held, err := fsutil.TryLock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("lock the state dir: %w", err)
	}
	if held {
		return nil, &failure.InputError{Msg: ErrLocked.Error() + ": " + dir, Hint: "wait for it to finish, or stop it (Ctrl-C) first", Err: ErrLocked}
	}
	return unlock, nil
}

// batchRunning tells whether a batch holds dir's lock now, so a reader can
// tell an account in flight from one a killed batch left marked running.
// A lock it cannot even try counts as not held.
func batchRunning(dir string) bool {
	unlock, held, err := fsutil.TryLock(filepath.Join(dir, lockName))
	if err != nil {
		return false
	}
	if !held {
		unlock()
	}
	return held
}
