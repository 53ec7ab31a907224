package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

const blobListFile = "blobs.json"

// stageExportRepo streams the repo to repo.car and verifies it in the same
// pass (commit signature, complete MST, every record present). Blob
// downloads start as soon as the blob list is known, so the old PDS serves
// them while the new one creates the account and imports.
func (m *Migrator) stageExportRepo(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	carPath := m.path("repo.car")
	if m.st.Done(stage.ExportRepo) && fsutil.Exists(carPath) {
		if err := m.loadBlobList(); err == nil {
			ok, err := m.localRepoGood(ctx, carPath)
			if err != nil {
				return "", err
			}
			if ok {
				if err := m.afterExport(ctx); err != nil {
					return "", err
				}
				return "", skip("already exported (rev %s, the local copy re-checked)", m.st.Repo.Rev)
			}
		}
	}
	sum, ok, err := m.takeEarlyExport(ctx)
	if err != nil {
		return "", err
	}
	vo, keys, err := m.repoVerifyOptions(false)
	if err != nil {
		return "", err
	}
	if !ok {
		if sum, err = m.exportAndVerify(ctx, "", carPath, vo); err != nil {
			return "", err
		}
	}
	if note := identity.EarlierKeyNote(keys, sum, m.src.Name()); note != "" {
		m.prog.Info(note)
	}
	m.journal().Update(func(*checkpoint.State) {
		m.st.Repo = checkpoint.RepoInfo{Commit: sum.Commit, Rev: sum.Rev, Data: sum.Data, Bytes: sum.Bytes, Records: sum.Records}
	})
	if err := m.setBlobList(sum.Blobs); err != nil {
		return "", err
	}
	if err := m.afterExport(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d records, %.1f MB, rev %s, %d blobs", sum.Records, units.MB(sum.Bytes), sum.Rev, len(sum.Blobs)), nil
}

// afterExport runs what must hold once the repo and its blob list are
// known, before anything is written to the new PDS: every blob fits the
// new PDS's upload limit (or the user chose to move without those that do
// not), the disk can hold the uploads in flight, and the prefetch starts.
func (m *Migrator) afterExport(ctx context.Context) error {
	if err := m.checkBlobLimit(m.blobRefs); err != nil {
		return err
	}
	if w := m.importSizeWarning(); w != "" {
		m.prog.Warn(w)
	}
	if err := m.checkDiskRoom(); err != nil {
		return err
	}
	m.startFetcher(ctx)
	return nil
}

// localRepoGood re-verifies the repo.car an earlier run left against the
// commit the state recorded for it: a copy damaged since (a machine that
// died before the file reached the disk, a catch-up killed half-way) is
// deleted and downloaded again, never imported.
func (m *Migrator) localRepoGood(ctx context.Context, path string) (bool, error) {
	vo, _, err := m.repoVerifyOptions(false)
	if err != nil {
		return false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	sum, verr := repo.VerifyCAR(ctx, f, vo)
	f.Close()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if verr == nil && sum.Commit == m.st.Repo.Commit {
		return true, nil
	}
	why := "it does not verify"
	if verr == nil {
		why = fmt.Sprintf("it holds commit %s, the state recorded %s", sum.Commit, m.st.Repo.Commit)
	}
	if err := os.Remove(path); err != nil {
		return false, err
	}
	m.prog.Warn(fmt.Sprintf("the local copy of the repo was damaged (%s): deleted, downloading it again", why))
	return false, nil
}

// exportAndVerify downloads the repo (or a diff) to path while a verifier
// reads the same bytes through a pipe: one pass, no second read of the file.
func (m *Migrator) exportAndVerify(ctx context.Context, since, path string, vo repo.VerifyOptions) (*repo.Summary, error) {
	return exportAndVerifyFrom(ctx, m.src, m.prog, since, path, vo)
}

// exportAndVerifyFrom is exportAndVerify from any source, reporting to
// prog: the early download reads without the session and holds its
// progress back, and `atmigrate export` has no migration.
func exportAndVerifyFrom(ctx context.Context, src Source, prog ui.Progress, since, path string, vo repo.VerifyOptions) (*repo.Summary, error) {
	prog.Transfer(ui.TransferRepoDownload, 1, -1)
	for attempt := 0; ; attempt++ {
		pr, pw := io.Pipe()
		type result struct {
			sum *repo.Summary
			err error
		}
		done := make(chan result, 1)
		go func() {
			sum, err := repo.VerifyCAR(ctx, pr, vo)
			// Drain so the downloader never blocks on a verifier that
			// stopped early; the download decides the outcome then.
			io.Copy(io.Discard, pr)
			done <- result{sum, err}
		}()
		var counted int64
		_, derr := src.ExportRepo(ctx, since, path, pw, func(n int64) {
			counted += n
			prog.Advance(ui.TransferRepoDownload, 0, n)
		})
		pw.CloseWithError(derr)
		res := <-done
		crashpoint.At("repo-downloaded")
		if derr != nil {
			prog.Advance(ui.TransferRepoDownload, 0, -counted)
			if errors.Is(derr, errRestartWithTee) && attempt < 3 && ctx.Err() == nil {
				continue
			}
			return nil, fmt.Errorf("download repo from %s: %w", src.Name(), derr)
		}
		if res.err != nil {
			os.Remove(path)
			return nil, &failure.StageError{Stage: stage.ExportRepo, Err: fmt.Errorf("the repo from %s does not verify: %w", src.Name(), res.err),
				Hint: "the old PDS served a repo that fails verification; run again to download it afresh, and report it if it persists"}
		}
		prog.Advance(ui.TransferRepoDownload, 1, 0)
		return res.sum, nil
	}
}

func (m *Migrator) setBlobList(refs []repo.BlobRef) error {
	m.blobRefs = refs
	var total, largest int64
	for _, b := range refs {
		if b.Size > 0 {
			total += b.Size
		}
		if b.Size > largest {
			largest = b.Size
		}
	}
	m.journal().Update(func(*checkpoint.State) {
		m.st.Blobs.Total, m.st.Blobs.TotalBytes, m.st.Blobs.Largest = len(refs), total, largest
	})
	b, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(m.path(blobListFile), b, 0o600)
}

// addBlobRefs merges blobs referenced by a later diff into the list.
func (m *Migrator) addBlobRefs(refs []repo.BlobRef) error {
	seen := map[string]bool{}
	for _, b := range m.blobRefs {
		seen[b.CID] = true
	}
	all := append([]repo.BlobRef(nil), m.blobRefs...)
	for _, b := range refs {
		if !seen[b.CID] {
			all = append(all, b)
			seen[b.CID] = true
		}
	}
	return m.setBlobList(all)
}

func (m *Migrator) loadBlobList() error {
	b, err := os.ReadFile(m.path(blobListFile))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &m.blobRefs)
}
