package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// maxCatchUpRounds bounds the catch-up loop for an account that keeps
// writing while it is being moved.
const maxCatchUpRounds = 5

// stageCatchUp imports what was written on the old PDS since the export,
// just before the switch, so posts made during the migration are not lost.
// It fetches only the difference (getRepo since the exported rev), falls
// back to a full export when the new PDS refuses the difference, and loops
// until the old PDS's latest commit is the one imported. It ends with the
// same full check as verify-new. A resumed run (after the pause for the
// email token, say) runs it again: writes made while paused are caught.
func (m *Migrator) stageCatchUp(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	cu := &m.sd.st.CatchUp
	if cu.FromRev == "" {
		cu.FromRev = m.sd.st.Repo.Rev
	}
	imported := false
	for round := 0; ; round++ {
		cid, rev, err := m.from.src.LatestCommit(ctx)
		if err != nil {
			return "", fmt.Errorf("read the latest commit from %s: %w", m.from.src.Name(), err)
		}
		if cid == m.sd.st.Repo.Commit {
			break
		}
		if round == maxCatchUpRounds {
			return "", &failure.StageError{Stage: stage.CatchUp,
				Err:  fmt.Errorf("the account wrote during each of %d catch-up rounds (now at rev %s)", round, rev),
				Hint: "pause the apps that post to this account, then run the same command again"}
		}
		m.prog.Info(fmt.Sprintf("the old repo moved on (rev %s -> %s): importing the difference", m.sd.st.Repo.Rev, rev))
		records, blobs, err := m.catchUpOnce(ctx)
		if err != nil {
			return "", err
		}
		var sk errSkip
		if _, err := m.stageBlobs(ctx); err != nil && !errors.As(err, &sk) {
			return "", err
		}
		m.sd.journal().Update(func(*checkpoint.State) {
			cu.Rounds++
			cu.Records += records
			cu.Blobs += blobs
			cu.ToRev = m.sd.st.Repo.Rev
		})
		if err := m.sd.save(); err != nil {
			return "", err
		}
		imported = true
	}
	// What was imported is checked like verify-new checked the export
	// (with nothing imported, verify-new's check still stands, and the
	// identity stage's gate runs it again anyway).
	if imported {
		if _, err := m.checkNewHasEverything(ctx); err != nil {
			return "", err
		}
	}
	return catchUpNote(*cu), nil
}

// catchUpNote says what the catch-up did over every run.
func catchUpNote(cu checkpoint.CatchUpInfo) string {
	if cu.Rounds == 0 {
		return "no writes since the export"
	}
	return fmt.Sprintf("caught up: %d round(s), %d record(s) and %d blob(s) written since rev %s imported, now at rev %s",
		cu.Rounds, cu.Records, cu.Blobs, cu.FromRev, cu.ToRev)
}

// catchUpOnce imports one difference and returns how many records and
// blobs it carried.
func (m *Migrator) catchUpOnce(ctx context.Context) (records, blobs int, err error) {
	vo, _, err := m.from.repoVerifyOptions(m.did, m.plcState, true)
	if err != nil {
		return 0, 0, err
	}
	diffPath := m.sd.path("diff-" + m.sd.st.Repo.Rev + ".car")
	defer os.Remove(diffPath)
	sum, err := m.exportAndVerify(ctx, m.sd.st.Repo.Rev, diffPath, vo)
	if err != nil {
		return 0, 0, err
	}
	records, blobs = sum.Records, len(sum.Blobs)
	ierr := transfer.Import(ctx, m.to.pds, m.prog, diffPath)
	if ierr != nil {
		// The reference PDS refuses a diff whose new record repeats an
		// older block (it reads records only from the uploaded CAR);
		// a full export and import on top is the documented way out.
		if pds.IsTransient(ierr) && ctx.Err() != nil {
			return 0, 0, ierr
		}
		m.prog.Warn(fmt.Sprintf("the new PDS refused the difference (%v); importing the full repo", ierr))
		// The new full copy goes under another name until the state
		// names its commit: a kill at any point leaves repo.car and the
		// state agreeing (the old pair or the new one), and a later run
		// re-checks repo.car against the state anyway.
		next := m.sd.path("repo-next.car")
		defer os.Remove(next)
		whole := vo
		whole.Partial = false
		full, err := m.exportAndVerify(ctx, "", next, whole)
		if err != nil {
			return 0, 0, err
		}
		if err := transfer.Import(ctx, m.to.pds, m.prog, next); err != nil {
			if refused := m.data.sizeLimits().ImportRefused(err, full.Bytes); refused != nil {
				return 0, 0, refused
			}
			return 0, 0, err
		}
		crashpoint.At("catchup-full-imported")
		m.sd.journal().Update(func(*checkpoint.State) {
			m.sd.st.Repo = checkpoint.RepoInfo{Commit: full.Commit, Rev: full.Rev, Data: full.Data, ImportedCommit: full.Commit, Bytes: full.Bytes, Records: full.Records}
		})
		if err := m.sd.save(); err != nil {
			return 0, 0, err
		}
		crashpoint.At("catchup-state-saved")
		if err := os.Rename(next, m.sd.path("repo.car")); err != nil {
			return 0, 0, err
		}
		sum = full
	} else {
		m.sd.journal().Update(func(*checkpoint.State) {
			m.sd.st.Repo.Records = 0 // unknown after a diff; the new PDS's count is reported
		})
	}
	m.sd.journal().Update(func(*checkpoint.State) {
		m.sd.st.Repo.Commit, m.sd.st.Repo.Rev, m.sd.st.Repo.Data, m.sd.st.Repo.ImportedCommit = sum.Commit, sum.Rev, sum.Data, sum.Commit
	})
	if err := m.data.blobList().Add(sum.Blobs); err != nil {
		return 0, 0, err
	}
	return records, blobs, m.sd.save()
}
