package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// ExportAndVerify downloads the repo (or a diff after since) from src to
// path while a verifier reads the same bytes through a pipe: one pass, no
// second read of the file but for the MST nodes, which the verifier reads
// back from it once the download is complete (vo.CARFile), rather than
// hold them all in memory. A repo that does not verify is deleted.
func ExportAndVerify(ctx context.Context, src Source, prog ui.Progress, since, path string, vo repo.VerifyOptions) (*repo.Summary, error) {
	prog.Transfer(ui.TransferRepoDownload, 1, -1)
	vo.CARFile = path
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
			// A download that had to start over while the verifier read
			// along: the verifier starts over too.
			if errors.Is(derr, pds.ErrRestartWithTee) && attempt < 3 && ctx.Err() == nil {
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

// LocalRepoGood re-verifies the repo CAR an earlier run left at path
// against the commit the state recorded for it: a copy damaged since (a
// machine that died before the file reached the disk, a catch-up killed
// half-way) is deleted, to be downloaded again, never imported.
func LocalRepoGood(ctx context.Context, path, commit string, vo repo.VerifyOptions, prog ui.Progress) (bool, error) {
	if _, err := os.Stat(path); err != nil {
		return false, err
	}
	sum, verr := repo.VerifyCARFile(ctx, path, vo)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if verr == nil && sum.Commit == commit {
		return true, nil
	}
	why := "it does not verify"
	if verr == nil {
		why = fmt.Sprintf("it holds commit %s, the state recorded %s", sum.Commit, commit)
	}
	if err := os.Remove(path); err != nil {
		return false, err
	}
	prog.Warn(fmt.Sprintf("the local copy of the repo was damaged (%s): deleted, downloading it again", why))
	return false, nil
}

// Import streams one CAR file into the new PDS with its length known.
func Import(ctx context.Context, c *pds.Client, prog ui.Progress, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	prog.Transfer(ui.TransferRepoImport, 1, fi.Size())
	if err := c.ImportRepo(ctx, f, fi.Size(), func(n int64) { prog.Advance(ui.TransferRepoImport, 0, n) }); err != nil {
		return fmt.Errorf("import the repo into %s: %w", c.Host(), err)
	}
	prog.Advance(ui.TransferRepoImport, 1, 0)
	crashpoint.At("import-sent")
	return nil
}
