package backup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// ExportOptions is what Export needs.
type ExportOptions struct {
	// Account is the handle or DID to back up.
	Account         string
	Password        string
	AuthFactorToken string
	// PDS is the account's PDS; "" resolves it from the DID document.
	PDS    string
	PLCURL string
	// Out is the backup directory. An existing backup of the same DID is
	// updated in place (incremental).
	Out         string
	Concurrency int
	// Headers are sent to the PDS on every request (the rate-limit bypass
	// header of its admin).
	Headers http.Header

	Retry      *pds.RetryPolicy
	HTTPClient *http.Client
	Progress   ui.Progress
}

// defaults fills in what the caller left zero with a migration's defaults.
func (o *ExportOptions) defaults() {
	o.PDS, o.PLCURL = servers.NormalURL(o.PDS), cmp.Or(o.PLCURL, servers.DefaultPLC)
	o.Concurrency = transfer.ConcurrencyOr(o.Concurrency)
	o.Progress = ui.OrNop(o.Progress)
}

// Export writes a verified, self-contained backup of an account to
// o.Out: repo.car (verified while it streams: commit signed by one of the
// DID's signing keys, complete MST, every record present), blobs/<cid>
// (each checked against its CID), preferences.json, plc-log.json and,
// last and atomically, manifest.json. Running it again into the same
// directory fetches only the blobs not already there and intact, and
// replaces the repo atomically. It reads with the owner's session, so a
// deactivated account can be backed up.
func Export(ctx context.Context, o ExportOptions) (*Manifest, error) {
	start := time.Now()
	if o.Out == "" {
		return nil, failure.Input(nil, "pass {out} with the backup directory", "no output directory given")
	}
	if o.Password == "" {
		return nil, failure.Input(nil, "pass {old-password}", "no password for the account")
	}
	o.defaults()
	if o.Account == "" {
		return nil, failure.Input(nil, "pass {account} with a handle or a DID", "no account given")
	}
	// The same clients and resolver a migration of this account makes, so
	// an export finds the account and its PDS exactly as a migrate would.
	srv := servers.New(o.HTTPClient, o.Retry, nil, o.Progress)
	ids := identity.Resolver{Servers: srv, PLC: srv.PLC(o.PLCURL), PLCURL: o.PLCURL, OldPDS: o.PDS}
	did, err := ids.Resolve(ctx, o.Account)
	if err != nil {
		return nil, err
	}
	prog := o.Progress

	// The audit log: stored as is, and the source of the signing keys.
	log, err := ids.PLC.AuditLog(ctx, did)
	if err != nil {
		return nil, ids.ReadError(did, err)
	}
	st, err := plc.StateFromLog(did, log)
	if err != nil {
		return nil, fmt.Errorf("read the DID's PLC audit log: %w", err)
	}
	host := o.PDS
	if host == "" {
		host = servers.NormalURL(st.Endpoint())
	}
	if host == "" {
		return nil, failure.Input(nil, "pass {old-pds}", "the DID document names no PDS")
	}

	// Refuse to mix two accounts in one directory.
	if old, err := ReadManifest(o.Out); err == nil && old.DID != did {
		return nil, failure.Input(nil, "use another {out} directory", "%s holds a backup of %s, not %s", o.Out, old.DID, did)
	}
	if err := os.MkdirAll(o.Out, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.Out, err)
	}

	c := srv.PDS(host, o.Headers)
	sess, err := identity.Login{DID: did, Handle: st.Handle(), Password: o.Password, AuthFactorToken: o.AuthFactorToken,
		PasswordChoice: failure.ChoiceOldPassword, ReadOnly: true}.Open(ctx, c)
	if err != nil {
		return nil, err
	}
	src := &transfer.PDSSource{Client: c, DID: did}
	handle := st.Handle()
	if sess.Handle != "" && sess.Handle != "handle.invalid" {
		handle = sess.Handle
	}
	note := fmt.Sprintf("backing up %s (%s) from %s", handle, did, host)
	if !sess.Active {
		note += fmt.Sprintf(" (account %s)", cmp.Or(sess.Status, "inactive"))
	}
	prog.Info(note)

	// 1. The repo, verified while it streams, to a staging name; or, when
	// the account's latest commit is the one the backup holds, the backup's
	// own copy verified again.
	vo, keys, err := identity.RepoVerifyOptions(did, st.SigningKeyHistory(), false)
	if err != nil {
		return nil, err
	}
	stagedCAR := filepath.Join(o.Out, ".repo.car.new")
	defer os.Remove(stagedCAR)
	sum, reused := reuseRepo(ctx, c, did, o.Out, vo)
	if reused {
		prog.Info(fmt.Sprintf("repo: unchanged since the last backup (rev %s, %d records): verified again, not downloaded", sum.Rev, sum.Records))
	} else {
		if sum, err = transfer.ExportAndVerify(ctx, src, prog, "", stagedCAR, vo); err != nil {
			return nil, err
		}
		prog.Info(fmt.Sprintf("repo: %d records, %.1f MB, rev %s, verified", sum.Records, units.MB(sum.Bytes), sum.Rev))
	}
	if note := identity.EarlierKeyNote(keys, sum, host); note != "" {
		prog.Info(note)
	}
	if n := sum.UndecodedRecords; n > 0 {
		// No PDS writes such records; their blob references cannot be
		// read, so the blobs below are the decoded records' only.
		prog.Warn(fmt.Sprintf("%s in the repo could not be decoded (outside the atproto data model, or nested over 128 levels): the backup holds them as they are, but not the blobs they may reference", units.Count(n, "record")))
	}

	// 2. Blobs: only the ones not already there and intact.
	store, err := repo.OpenBlobStore(filepath.Join(o.Out, BlobDir))
	if err != nil {
		return nil, err
	}
	stats, mimes, err := exportBlobs(ctx, src, store, sum.Blobs, o.Concurrency, prog)
	if err != nil {
		return nil, err
	}
	stats.RepoUnchanged = reused

	// 3. Preferences (raw) and the audit log, staged.
	stagedPrefs := filepath.Join(o.Out, ".preferences.json.new")
	defer os.Remove(stagedPrefs)
	havePrefs := false
	if prefs, err := c.GetPreferences(ctx); err != nil {
		prog.Warn(fmt.Sprintf("could not read the preferences (%v); the backup will not contain them", err))
		stats.PrefsMissing = true
	} else {
		if len(prefs) == 0 {
			prefs = json.RawMessage("[]")
		}
		var n []json.RawMessage
		_ = json.Unmarshal(prefs, &n)
		stats.Preferences = len(n)
		if err := fsutil.WriteFileAtomic(stagedPrefs, prefs, 0o600); err != nil {
			return nil, err
		}
		havePrefs = true
	}
	logJSON, err := json.MarshalIndent(log, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the audit log: %w", err)
	}
	stagedLog := filepath.Join(o.Out, ".plc-log.json.new")
	defer os.Remove(stagedLog)
	if err := fsutil.WriteFileAtomic(stagedLog, logJSON, 0o600); err != nil {
		return nil, err
	}

	// The old PDS's own rotation key: what a restore drops.
	var oldKeys []string
	if cred, err := c.GetRecommendedDidCredentials(ctx); err == nil {
		oldKeys = cred.RotationKeys
	} else {
		prog.Warn(fmt.Sprintf("%s did not say which rotation key is its own (%v); a restore will keep every current rotation key", host, err))
	}

	// 4. Swap in: the old manifest goes first, so a crash in between leaves
	// a directory that says it is incomplete rather than one that lies.
	if err := os.Remove(filepath.Join(o.Out, ManifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	files := map[string]FileSum{}
	swap := []struct{ staged, name string }{{stagedLog, PLCLogFile}}
	if reused {
		size, sha, err := hashFile(filepath.Join(o.Out, RepoFile))
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", RepoFile, err)
		}
		files[RepoFile] = FileSum{Size: size, SHA256: sha}
	} else {
		swap = append(swap, struct{ staged, name string }{stagedCAR, RepoFile})
	}
	if havePrefs {
		swap = append(swap, struct{ staged, name string }{stagedPrefs, PrefsFile})
	} else {
		os.Remove(filepath.Join(o.Out, PrefsFile))
	}
	for _, s := range swap {
		size, sha, err := hashFile(s.staged)
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", s.name, err)
		}
		if err := os.Rename(s.staged, filepath.Join(o.Out, s.name)); err != nil {
			return nil, fmt.Errorf("replace %s: %w", s.name, err)
		}
		files[s.name] = FileSum{Size: size, SHA256: sha}
	}
	if err := store.Sync(); err != nil {
		return nil, err
	}
	if err := fsutil.SyncDir(o.Out); err != nil {
		return nil, err
	}

	man := &Manifest{
		DID: did, Handle: handle, Email: sess.Email, PDS: host,
		Repo:  ManifestRepo{Rev: sum.Rev, Commit: sum.Commit, Records: sum.Records, Bytes: sum.Bytes, SHA256: files[RepoFile].SHA256},
		Blobs: ManifestBlobs{Count: len(sum.Blobs), MimeTypes: mimes, Sizes: map[string]int64{}},
		Files: files, OldPDSRotationKeys: oldKeys, SigningKey: sum.SignedBy,
		Tool: "atmigrate/" + servers.Version, Created: time.Now().UTC(),
	}
	for _, b := range sum.Blobs {
		if size, ok := store.Has(b.CID); ok {
			man.Blobs.Sizes[b.CID] = size
			man.Blobs.Bytes += size
		}
	}
	crashpoint.At("export-before-manifest")
	if err := WriteManifest(o.Out, man); err != nil {
		return nil, err
	}
	stats.Duration = time.Since(start)
	man.Stats = stats
	return man, nil
}

// reuseRepo returns the summary of the backup's repo.car, verified
// again against the DID's signing keys, when the PDS's latest commit is the
// one it holds: an unchanged account's repo is not downloaded again (a
// backup's CAR must be whole, so a changed one is). Any doubt (no
// manifest, another commit, a file that no longer verifies) says no, and
// the caller downloads.
func reuseRepo(ctx context.Context, c *pds.Client, did, dir string, vo repo.VerifyOptions) (*repo.Summary, bool) {
	man, err := ReadManifest(dir)
	if err != nil || man.DID != did || man.Repo.Commit == "" {
		return nil, false
	}
	cid, _, err := c.GetLatestCommit(ctx, did)
	if err != nil || cid != man.Repo.Commit {
		return nil, false
	}
	sum, err := repo.VerifyCARFile(ctx, filepath.Join(dir, RepoFile), vo)
	if err != nil || sum.Commit != cid {
		return nil, false
	}
	return sum, true
}

// exportBlobs makes sure every blob in refs is in store, verified against
// its CID, downloading only what is missing or damaged.
func exportBlobs(ctx context.Context, src transfer.Source, store *repo.BlobStore, refs []repo.BlobRef, concurrency int, prog ui.Progress) (ExportStats, map[string]string, error) {
	var stats ExportStats
	mimes := map[string]string{}
	var need []repo.BlobRef
	for _, b := range refs {
		mimes[b.CID] = b.MimeType
		if _, ok := store.Has(b.CID); ok {
			if err := store.Verify(b.CID); err == nil {
				stats.BlobsKept++
				continue
			}
			prog.Warn(fmt.Sprintf("blobs/%s is damaged: fetching it again", b.CID))
			os.Remove(store.Path(b.CID))
		}
		need = append(need, b)
	}
	if stats.BlobsKept > 0 {
		prog.Info(fmt.Sprintf("%d blobs already in the backup and intact", stats.BlobsKept))
	}
	if len(need) == 0 {
		return stats, mimes, nil
	}
	var total int64
	for _, b := range need {
		if b.Size > 0 {
			total += b.Size
		}
	}
	prog.Transfer(ui.TransferBlobs, len(need), total)
	var mu sync.Mutex
	failures := map[string]error{}
	workers.Each(ctx, need, concurrency, func(b repo.BlobRef) {
		n, ctype, err := transfer.FetchToStore(ctx, src, store, b.CID, b.Size)
		mu.Lock()
		if err != nil {
			failures[b.CID] = err
		} else {
			stats.BlobsFetched++
			stats.BytesFetched += n
			if mimes[b.CID] == "" && ctype != "" {
				mimes[b.CID] = ctype
			}
		}
		mu.Unlock()
		if err == nil {
			prog.Advance(ui.TransferBlobs, 1, n)
			crashpoint.At("blob-downloaded")
		}
	})
	if err := ctx.Err(); err != nil {
		return stats, nil, err
	}
	if len(failures) > 0 {
		var lines []string
		for cid, err := range failures {
			lines = append(lines, cid+": "+err.Error())
		}
		sort.Strings(lines)
		lines = units.FirstN(lines, 10)
		return stats, nil, &failure.StageError{Stage: stage.Blobs, Err: fmt.Errorf("%d blob(s) could not be downloaded:\n  %s", len(failures), strings.Join(lines, "\n  ")),
			Hint: "run the same export again: the blobs already saved are kept"}
	}
	return stats, mimes, nil
}
