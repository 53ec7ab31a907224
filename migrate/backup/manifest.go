package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
)

// ManifestVersion is the version of the backup manifest format.
const ManifestVersion = 1

// The files of a backup directory.
const (
	ManifestFile = "manifest.json"
	RepoFile     = "repo.car"
	PrefsFile    = "preferences.json"
	PLCLogFile   = "plc-log.json"
	BlobDir      = "blobs"
)

// Manifest describes a backup made by Export. It is written last and
// atomically: a directory with a manifest is a complete backup.
type Manifest struct {
	Version int    `json:"version"`
	DID     string `json:"did"`
	Handle  string `json:"handle,omitempty"`
	// Email is the account's address at backup time: the default email
	// for the account a restore creates.
	Email string `json:"email,omitempty"`
	// PDS is the PDS the backup was taken from.
	PDS   string        `json:"pds"`
	Repo  ManifestRepo  `json:"repo"`
	Blobs ManifestBlobs `json:"blobs"`
	// Files maps repo.car, preferences.json and plc-log.json to their size
	// and hash. A file not listed is not part of the backup.
	Files map[string]FileSum `json:"files"`
	// OldPDSRotationKeys are the backed-up PDS's own rotation keys (from its
	// recommended DID credentials): the keys a restore drops from the DID.
	OldPDSRotationKeys []string `json:"oldPdsRotationKeys,omitempty"`
	// SigningKey is the DID's atproto key the repo was verified with.
	SigningKey string    `json:"signingKey,omitempty"`
	Tool       string    `json:"tool"`
	Created    time.Time `json:"created"`

	// Stats of the Export run that wrote this manifest (not stored).
	Stats ExportStats `json:"-"`
}

// ManifestRepo describes repo.car.
type ManifestRepo struct {
	Rev     string `json:"rev"`
	Commit  string `json:"commit"`
	Records int    `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
}

// ManifestBlobs lists the blobs in blobs/, each named by its CID.
type ManifestBlobs struct {
	Count     int               `json:"count"`
	Bytes     int64             `json:"bytes"`
	MimeTypes map[string]string `json:"mimeTypes"`
	Sizes     map[string]int64  `json:"sizes"`
}

// FileSum is one file's size and SHA-256 (hex).
type FileSum struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Error is a backup that fails verification; File names the broken
// file (a path inside the backup directory).
type Error struct {
	Dir  string
	File string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("backup %s is damaged: %s: %v", e.Dir, e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// The most each JSON file of a backup may hold, so that a damaged or
// hostile backup makes a clear error instead of filling memory. Export
// never writes more: the audit log and the preferences came from answers
// read through the same limits (plc and internal/pds), and a manifest of
// 256 MB lists about 1.7 million blobs.
const (
	maxManifestBytes = 256_000_000
	maxPLCLogBytes   = 32_000_000
	maxPrefsBytes    = 8_000_000
)

// fileLimits are the files a manifest may list that are read whole.
var fileLimits = map[string]int64{PLCLogFile: maxPLCLogBytes, PrefsFile: maxPrefsBytes}

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := fsutil.ReadUpTo(filepath.Join(dir, ManifestFile), maxManifestBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{Dir: dir, File: ManifestFile, Err: errors.New("missing (not a backup directory, or the export did not finish: run `atmigrate export` again)")}
	}
	if err != nil {
		return nil, &Error{Dir: dir, File: ManifestFile, Err: err}
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &Error{Dir: dir, File: ManifestFile, Err: fmt.Errorf("not valid JSON: %w", err)}
	}
	if m.Version < 1 || m.Version > ManifestVersion {
		return nil, &Error{Dir: dir, File: ManifestFile, Err: fmt.Errorf("format version %d is not one this atmigrate reads (%d)", m.Version, ManifestVersion)}
	}
	if m.DID == "" || m.Repo.Commit == "" {
		return nil, &Error{Dir: dir, File: ManifestFile, Err: errors.New("no DID or repo commit")}
	}
	return &m, nil
}

// WriteManifest writes dir/manifest.json atomically, mode 0600.
func WriteManifest(dir string, m *Manifest) error {
	m.Version = ManifestVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o600)
}

// hashFile returns a file's size and hex SHA-256.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// ExportStats says what one Export run did.
type ExportStats struct {
	BlobsFetched int
	BytesFetched int64
	// BlobsKept were already in the directory and verified.
	BlobsKept int
	// RepoUnchanged: the account's latest commit was the backup's, so its
	// repo.car was verified again instead of downloaded.
	RepoUnchanged bool
	Preferences   int
	PrefsMissing  bool
	Duration      time.Duration
}
