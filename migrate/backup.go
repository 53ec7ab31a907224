package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// ManifestVersion is the version of the backup manifest format.
const ManifestVersion = 1

// The files of a backup directory.
const (
	BackupManifestFile = "manifest.json"
	BackupRepoFile     = "repo.car"
	BackupPrefsFile    = "preferences.json"
	BackupPLCLogFile   = "plc-log.json"
	BackupBlobDir      = "blobs"
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
	Files map[string]ManifestFile `json:"files"`
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

// ManifestFile is one file's size and SHA-256 (hex).
type ManifestFile struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// BackupError is a backup that fails verification; File names the broken
// file (a path inside the backup directory).
type BackupError struct {
	Dir  string
	File string
	Err  error
}

func (e *BackupError) Error() string {
	return fmt.Sprintf("backup %s is damaged: %s: %v", e.Dir, e.File, e.Err)
}

func (e *BackupError) Unwrap() error { return e.Err }

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, BackupManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &BackupError{Dir: dir, File: BackupManifestFile, Err: errors.New("missing (not a backup directory, or the export did not finish: run `atmigrate export` again)")}
	}
	if err != nil {
		return nil, &BackupError{Dir: dir, File: BackupManifestFile, Err: err}
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &BackupError{Dir: dir, File: BackupManifestFile, Err: fmt.Errorf("not valid JSON: %w", err)}
	}
	if m.Version < 1 || m.Version > ManifestVersion {
		return nil, &BackupError{Dir: dir, File: BackupManifestFile, Err: fmt.Errorf("format version %d is not one this atmigrate reads (%d)", m.Version, ManifestVersion)}
	}
	if m.DID == "" || m.Repo.Commit == "" {
		return nil, &BackupError{Dir: dir, File: BackupManifestFile, Err: errors.New("no DID or repo commit")}
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
	return fsutil.WriteFileAtomic(filepath.Join(dir, BackupManifestFile), append(b, '\n'), 0o600)
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

// BackupReport is a verified backup.
type BackupReport struct {
	Dir      string
	Manifest *Manifest
	Summary  *repo.Summary
	// Key is the one of Keys that signed the repo.
	Key atcrypto.PublicKey
	// Keys is the DID's signing-key history in plc-log.json, newest first.
	Keys plc.SigningKeys
	// Log is plc-log.json, verified.
	Log []didplc.LogEntry
	// Lacks names what the backup does not contain.
	Lacks []string
}

// Age is how long ago the backup was taken.
func (r *BackupReport) Age(now time.Time) time.Duration { return now.Sub(r.Manifest.Created) }

// VerifyBackup checks a backup directory completely before anything is
// done with it: every file listed in the manifest has its size and hash;
// plc-log.json is a valid audit log of the manifest's DID; repo.car
// verifies (every block hashes to its CID, the commit is signed by one of
// the DID's signing keys in that log, the MST is complete, every record
// is present) and is the manifest's commit; every blob the records
// reference is in blobs/ and hashes to its CID. The first problem found is returned
// as a *BackupError naming the file.
func VerifyBackup(ctx context.Context, dir string) (*BackupReport, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	bad := func(file string, err error) error { return &BackupError{Dir: dir, File: file, Err: err} }
	rep := &BackupReport{Dir: dir, Manifest: man}

	for _, name := range []string{BackupRepoFile, BackupPLCLogFile} {
		if _, ok := man.Files[name]; !ok {
			return nil, bad(BackupManifestFile, fmt.Errorf("does not list %s", name))
		}
	}
	names := make([]string, 0, len(man.Files))
	for name := range man.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name != filepath.Base(name) || name == BackupManifestFile {
			return nil, bad(BackupManifestFile, fmt.Errorf("lists an unexpected file %q", name))
		}
		want := man.Files[name]
		size, sum, err := hashFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, bad(name, errors.New("missing (the manifest lists it)"))
		}
		if err != nil {
			return nil, bad(name, err)
		}
		if size != want.Size || sum != want.SHA256 {
			return nil, bad(name, fmt.Errorf("does not match the manifest (size %d, sha256 %s; the manifest says %d, %s)", size, sum, want.Size, want.SHA256))
		}
	}
	if _, ok := man.Files[BackupPrefsFile]; !ok {
		rep.Lacks = append(rep.Lacks, "preferences ("+BackupPrefsFile+")")
	}
	if len(man.OldPDSRotationKeys) == 0 {
		rep.Lacks = append(rep.Lacks, "the old PDS's rotation key (it will be kept in the DID document)")
	}

	// plc-log.json: a verified log of this DID, giving its signing keys up
	// to the backup.
	logBytes, err := os.ReadFile(filepath.Join(dir, BackupPLCLogFile))
	if err != nil {
		return nil, bad(BackupPLCLogFile, err)
	}
	var log []didplc.LogEntry
	if err := json.Unmarshal(logBytes, &log); err != nil {
		return nil, bad(BackupPLCLogFile, fmt.Errorf("not a PLC audit log: %w", err))
	}
	st, err := plc.StateFromLog(man.DID, log)
	if err != nil {
		return nil, bad(BackupPLCLogFile, err)
	}
	rep.Log = log
	rep.Keys = st.SigningKeyHistory()
	pubs, err := rep.Keys.PublicKeys()
	if err != nil {
		return nil, bad(BackupPLCLogFile, err)
	}

	// repo.car: one streaming pass.
	sum, err := repo.VerifyCARFile(ctx, filepath.Join(dir, BackupRepoFile), repo.VerifyOptions{DID: man.DID, Keys: pubs})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, bad(BackupRepoFile, fmt.Errorf("does not verify: %w", err))
	}
	for _, k := range pubs {
		if k.DIDKey() == sum.SignedBy {
			rep.Key = k
			break
		}
	}
	if sum.Commit != man.Repo.Commit || sum.Rev != man.Repo.Rev {
		return nil, bad(BackupRepoFile, fmt.Errorf("holds commit %s (rev %s); the manifest says %s (rev %s)", sum.Commit, sum.Rev, man.Repo.Commit, man.Repo.Rev))
	}
	rep.Summary = sum

	// Every blob a record references, present and hashing to its CID.
	store := &repo.BlobStore{Dir: filepath.Join(dir, BackupBlobDir)}
	for i, b := range sum.Blobs {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		file := BackupBlobDir + "/" + b.CID
		if _, ok := store.Has(b.CID); !ok {
			return nil, bad(file, errors.New("missing (a record references it)"))
		}
		if err := verifyBlobFile(store, b.CID); err != nil {
			return nil, bad(file, err)
		}
	}
	return rep, nil
}

// verifyBlobFile re-hashes a stored blob, with a short message.
func verifyBlobFile(store *repo.BlobStore, c string) error {
	f, _, err := store.Open(c)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := repo.CheckCID(c, f); err != nil {
		if errors.Is(err, repo.ErrBlobMismatch) {
			return fmt.Errorf("content does not hash to its CID (corrupted): %w", repo.ErrBlobMismatch)
		}
		return err
	}
	return nil
}

// describeAge says how long ago t was, in words.
func describeAge(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return "just now"
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}
