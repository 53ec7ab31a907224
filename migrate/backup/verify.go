package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// Report is a verified backup.
type Report struct {
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
func (r *Report) Age(now time.Time) time.Duration { return now.Sub(r.Manifest.Created) }

// Verify checks a backup directory completely before anything is done
// with it: every file listed in the manifest has its size and hash;
// plc-log.json is a valid audit log of the manifest's DID; repo.car
// verifies (every block hashes to its CID, the commit is signed by one of
// the DID's signing keys in that log, the MST is complete, every record
// is present) and is the manifest's commit; every blob the records
// reference is in blobs/ and hashes to its CID. The first problem found
// is returned as an *Error naming the file.
func Verify(ctx context.Context, dir string) (*Report, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	bad := func(file string, err error) error { return &Error{Dir: dir, File: file, Err: err} }
	rep := &Report{Dir: dir, Manifest: man}

	for _, name := range []string{RepoFile, PLCLogFile} {
		if _, ok := man.Files[name]; !ok {
			return nil, bad(ManifestFile, fmt.Errorf("does not list %s", name))
		}
	}
	names := make([]string, 0, len(man.Files))
	for name := range man.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name != filepath.Base(name) || name == ManifestFile {
			return nil, bad(ManifestFile, fmt.Errorf("lists an unexpected file %q", name))
		}
		want := man.Files[name]
		if limit, ok := fileLimits[name]; ok && want.Size > limit {
			return nil, bad(name, fmt.Errorf("the manifest says %d bytes, more than the %d a backup holds there", want.Size, limit))
		}
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
	if _, ok := man.Files[PrefsFile]; !ok {
		rep.Lacks = append(rep.Lacks, "preferences ("+PrefsFile+")")
	}
	if len(man.OldPDSRotationKeys) == 0 {
		rep.Lacks = append(rep.Lacks, "the old PDS's rotation key (it will be kept in the DID document)")
	}

	// plc-log.json: a verified log of this DID, giving its signing keys up
	// to the backup.
	logBytes, err := fsutil.ReadUpTo(filepath.Join(dir, PLCLogFile), maxPLCLogBytes)
	if err != nil {
		return nil, bad(PLCLogFile, err)
	}
	var log []didplc.LogEntry
	if err := json.Unmarshal(logBytes, &log); err != nil {
		return nil, bad(PLCLogFile, fmt.Errorf("not a PLC audit log: %w", err))
	}
	st, err := plc.StateFromLog(man.DID, log)
	if err != nil {
		return nil, bad(PLCLogFile, err)
	}
	rep.Log = log
	rep.Keys = st.SigningKeyHistory()
	pubs, err := rep.Keys.PublicKeys()
	if err != nil {
		return nil, bad(PLCLogFile, err)
	}

	// repo.car: one streaming pass.
	sum, err := repo.VerifyCARFile(ctx, filepath.Join(dir, RepoFile), repo.VerifyOptions{DID: man.DID, Keys: pubs})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, bad(RepoFile, fmt.Errorf("does not verify: %w", err))
	}
	for _, k := range pubs {
		if k.DIDKey() == sum.SignedBy {
			rep.Key = k
			break
		}
	}
	if sum.Commit != man.Repo.Commit || sum.Rev != man.Repo.Rev {
		return nil, bad(RepoFile, fmt.Errorf("holds commit %s (rev %s); the manifest says %s (rev %s)", sum.Commit, sum.Rev, man.Repo.Commit, man.Repo.Rev))
	}
	rep.Summary = sum

	// Every blob a record references, present and hashing to its CID.
	store := &repo.BlobStore{Dir: filepath.Join(dir, BlobDir)}
	for i, b := range sum.Blobs {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		file := BlobDir + "/" + b.CID
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

// InLog reports whether every live entry of the backup's plc-log.json
// is in st's log (the DID's current one): when one is not, the identity
// changed since in a way the backup does not know.
func (r *Report) InLog(st *plc.State) bool {
	have := map[string]bool{}
	for _, e := range st.Log {
		have[e.CID] = true
	}
	for _, e := range r.Log {
		if !e.Nullified && !have[e.CID] {
			return false
		}
	}
	return true
}

// Ago says in words how long before now the backup was taken ("just
// now", "5 minutes ago", "3 days ago"): a restore tells the user what
// the backup may miss.
func (r *Report) Ago(now time.Time) string {
	d := r.Age(now)
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
