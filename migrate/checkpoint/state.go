package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// StateVersion is the version of the state file format.
const Version = 1

// StateFile is the checkpoint's file name inside the state directory.
const FileName = "state.json"

// State is the checkpoint of one migration. It holds no secret: no
// password, token or JWT is ever written here.
type State struct {
	Version   int    `json:"version"`
	DID       string `json:"did"`
	Handle    string `json:"handle"`
	OldPDS    string `json:"oldPds"`
	NewPDS    string `json:"newPds"`
	NewPDSDID string `json:"newPdsDid,omitempty"`
	// NewPDSEndpoint is the URL the new PDS wants in the DID document (its
	// public URL, which can differ from the URL we reach it by).
	NewPDSEndpoint string    `json:"newPdsEndpoint,omitempty"`
	NewHandle      string    `json:"newHandle,omitempty"`
	PLCURL         string    `json:"plcUrl"`
	Source         string    `json:"source,omitempty"` // "pds" or "backup:<dir>"
	Started        time.Time `json:"started"`
	Updated        time.Time `json:"updated"`

	Stages map[stage.Stage]*StageStatus `json:"stages"`

	Repo  RepoInfo  `json:"repo"`
	Blobs BlobsInfo `json:"blobs"`
	PLC   PLCInfo   `json:"plc"`
	Disk  DiskUse   `json:"disk"`

	// OldPDSRotationKeys are the old PDS's own rotation keys (from its
	// recommended credentials): the keys a migration drops.
	OldPDSRotationKeys []string `json:"oldPdsRotationKeys,omitempty"`

	// CreatingAccount is set before createAccount is sent: from then on
	// the state dir is bound to the new PDS, even if the run dies before
	// it can record AccountCreated.
	CreatingAccount bool        `json:"creatingAccount,omitempty"`
	AccountCreated  bool        `json:"accountCreated"`
	Completed       bool        `json:"completed"`
	LastError       string      `json:"lastError,omitempty"`
	LastErrorStage  stage.Stage `json:"lastErrorStage,omitempty"`
	// LastStop is how the last run ended, so that `status` need not read
	// it from LastError's words. Empty in state files written before it
	// existed, and for a run killed before it could record anything.
	LastStop Stop `json:"lastStop,omitempty"`

	// CatchUp adds up what the catch-up stage imported, over every run.
	CatchUp CatchUpInfo `json:"catchUp,omitempty"`
}

// Stop is how a run ended.
type Stop string

const (
	StopCompleted   Stop = "completed"   // the migration is complete
	StopInterrupted Stop = "interrupted" // Ctrl-C or SIGTERM; the same command resumes
	// StopPausedToken: the data is on the new PDS and the PLC email token
	// was requested; the same command with the token continues.
	StopPausedToken Stop = "paused-token"
	// StopPausedDIDWeb: the did:web document to publish was written; the
	// same command continues once it is published.
	StopPausedDIDWeb Stop = "paused-didweb"
	StopFailed       Stop = "failed" // a failure that can pass: the same command resumes
	// StopFailedPermanent is bad input (an InputError): running again
	// cannot help until what LastError names is fixed. The word is the
	// batch's for the same outcome.
	StopFailedPermanent Stop = "failed-permanent"
)

// CatchUpInfo is what the catch-up stage did: writes made on the old PDS
// after the export and imported before the switch.
type CatchUpInfo struct {
	Rounds  int    `json:"rounds,omitempty"`
	Records int    `json:"records,omitempty"` // records in the imported differences
	Blobs   int    `json:"blobs,omitempty"`   // blobs those records added
	FromRev string `json:"fromRev,omitempty"` // the exported rev
	ToRev   string `json:"toRev,omitempty"`   // the rev imported last
}

// StageStatus is one stage's checkpoint.
type StageStatus struct {
	Done     bool      `json:"done"`
	Started  time.Time `json:"started,omitempty"`
	Finished time.Time `json:"finished,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// RepoInfo describes the exported repo.
type RepoInfo struct {
	Commit  string `json:"commit,omitempty"`
	Rev     string `json:"rev,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
	Records int    `json:"records,omitempty"`
	// Data is the exported commit's MST root (commit.data): what the new
	// PDS must hold, whatever commit it wraps it in.
	Data string `json:"data,omitempty"`
	// ImportedCommit is the exported commit last imported into the new PDS.
	ImportedCommit string `json:"importedCommit,omitempty"`
}

// DiskUse is what the migration's own files took in the state dir.
type DiskUse struct {
	// PeakBytes is the most the files below Dir took at once, measured
	// (the space the file system allocated them, sampled through each
	// run and as each blob landed), over every run.
	PeakBytes int64  `json:"peakBytes,omitempty"`
	Dir       string `json:"dir,omitempty"`
}

// BlobsInfo counts blobs.
type BlobsInfo struct {
	Total      int   `json:"total"`
	TotalBytes int64 `json:"totalBytes"`
	Largest    int64 `json:"largest,omitempty"`
	Uploaded   int   `json:"uploaded"`
	// Missing lists blobs the new PDS still lacked at the last check.
	Missing []string `json:"missing,omitempty"`
	// PeakDiskBytes is the most blob bytes the state dir held at once
	// (the --disk-budget window plus the uploads in flight), over every run.
	PeakDiskBytes int64 `json:"peakDiskBytes,omitempty"`
	// Confirmed lists the blobs the new PDS is known to hold: it answered
	// our upload with the blob's CID, or the blob was fetched back from it
	// and hashed. Its own bookkeeping (checkAccountStatus) is not proof.
	Confirmed []string `json:"confirmed,omitempty"`
	// LeftBehind are blobs moved without, at the user's request
	// (--skip-oversized-blobs): larger than the new PDS accepts.
	LeftBehind []LeftBlob `json:"leftBehind,omitempty"`
}

// LeftBlob is a blob a migration did not move, and why.
type LeftBlob struct {
	CID      string `json:"cid"`
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType,omitempty"`
	// Limit is the new PDS's upload limit it is over (0: the limit is not
	// reported, and the new PDS refused the upload as too large).
	Limit int64 `json:"limit,omitempty"`
}

// PLCInfo tracks the identity stage, the one that must happen once.
type PLCInfo struct {
	TokenRequested time.Time `json:"tokenRequested,omitempty"`
	// OpCID is the CID of the operation about to be (or already) submitted;
	// it is written before the submission so a crash right after can be
	// detected from the audit log instead of submitting twice.
	OpCID     string    `json:"opCid,omitempty"`
	Submitted time.Time `json:"submitted,omitempty"`
	Method    string    `json:"method,omitempty"` // "email-token" or "rotation-key"
	// SignedOp is the signed operation (public data, no secret), kept so
	// that a run killed before it could submit reuses it instead of
	// spending a second email token.
	SignedOp json.RawMessage `json:"signedOp,omitempty"`
	// TempSigningKeyOpCID is the restore-from-backup temporary key op.
	TempSigningKeyOpCID string `json:"tempSigningKeyOpCid,omitempty"`
}

// Done reports whether stage s finished.
func (st *State) Done(s stage.Stage) bool {
	ss := st.Stages[s]
	return ss != nil && ss.Done
}

func (st *State) Stage(s stage.Stage) *StageStatus {
	if st.Stages == nil {
		st.Stages = map[stage.Stage]*StageStatus{}
	}
	ss := st.Stages[s]
	if ss == nil {
		ss = &StageStatus{}
		st.Stages[s] = ss
	}
	return ss
}

// LoadState reads dir's state file. A missing file returns (nil, nil): a
// fresh start.
func Load(dir string) (*State, error) {
	var st State
	found, err := fsutil.ReadJSON(filepath.Join(dir, FileName), &st)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("read state: %w", err)
		}
		return nil, err
	}
	if st.Version > Version {
		return nil, fmt.Errorf("state %s was written by a newer atmigrate (format %d)", dir, st.Version)
	}
	if st.Stages == nil {
		st.Stages = map[stage.Stage]*StageStatus{}
	}
	return &st, nil
}

// Save writes the state atomically (temp file, fsync, rename, fsync dir),
// mode 0600.
func (st *State) Save(dir string) error {
	st.Version = Version
	st.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, FileName), append(b, '\n'), 0o600)
}

// DefaultStateRoot is $XDG_STATE_HOME/atmigrate, falling back to
// ~/.local/state/atmigrate.
func DefaultRoot() (string, error) {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "atmigrate"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory for the state dir (set {state-dir}): %w", err)
	}
	return filepath.Join(home, ".local", "state", "atmigrate"), nil
}

// DefaultStateDir is the state directory for did under the default root.
func DefaultDir(did string) (string, error) {
	root, err := DefaultRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, did), nil
}
