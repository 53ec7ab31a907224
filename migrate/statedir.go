package migrate

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// stateDir is the run's state directory: the state, the journal that
// writes it, and the data files beside it.
type stateDir struct {
	// dir is the state dir; dataDir, when set, holds the data files
	// instead (the dry run's temporary copy).
	dir, dataDir string
	st           *checkpoint.State
	j            *checkpoint.Journal // the writer of st
	// dry is set for a run whose actor records its effects: the dry run
	// writes nothing.
	dry bool
	// meter measures the run's files in the state dir (see diskpeak.go).
	meter *diskuse.Meter
}

func (d *stateDir) markDone(s stage.Stage, note string, start time.Time) error {
	if d.st == nil {
		return nil
	}
	return d.journal().MarkDone(s, note, start)
}

func (d *stateDir) save() error {
	if d.st == nil {
		return nil
	}
	return d.journal().Save()
}

// journal is the writer of d.st, saving to the state dir (never, for a
// run whose actor records its effects: the dry run writes nothing).
func (d *stateDir) journal() *checkpoint.Journal {
	if d.j == nil || d.j.State() != d.st {
		dir := d.dir
		if d.dry {
			dir = ""
		}
		d.j = checkpoint.NewJournal(dir, d.st)
	}
	return d.j
}

// recordError records the stop of a run that was at stage at.
func (d *stateDir) recordError(at stage.Stage, stop checkpoint.Stop, err error) {
	msg := err.Error()
	var se *failure.StageError
	if errors.As(err, &se) {
		at, msg = se.Stage, se.Err.Error()
	}
	d.journal().RecordStop(stop, at, msg)
}

// path is one of the run's data files: the repo, the blob list and the
// blobs, kept in the state dir (in a temporary directory, for the dry
// run).
func (d *stateDir) path(name string) string { return filepath.Join(d.files(), name) }

// files is the directory of the run's data files.
func (d *stateDir) files() string { return cmp.Or(d.dataDir, d.dir) }

// removeData deletes the copies of the repo and blobs once the migration
// is complete and checked: they are on the new PDS now, and a large
// account's blobs would otherwise sit in the state dir forever. `atmigrate
// export` is the way to keep a backup.
func (d *stateDir) removeData(prog ui.Progress) {
	var freed int64
	for _, name := range []string{"repo.car", "blobs"} {
		p := d.path(name)
		_ = filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				freed += fi.Size()
			}
			return nil
		})
		if err := os.RemoveAll(p); err != nil {
			prog.Warn(fmt.Sprintf("could not remove %s: %v", p, err))
		}
	}
	matches, _ := filepath.Glob(d.path("diff-*.car"))
	for _, p := range matches {
		os.Remove(p)
	}
	if freed > 0 {
		prog.Info(fmt.Sprintf("removed %.1f MB of transfer copies from %s", float64(freed)/1e6, d.files()))
	}
}

func (d *stateDir) stageStatus(s stage.Stage) *checkpoint.StageStatus {
	if d.st == nil {
		return nil
	}
	if ss, ok := d.journal().Status(s); ok {
		return &ss
	}
	return nil
}

// diskFullError says how much space the state dir's disk has and about
// how much more the run still has to write there (need: the blobs still
// to download).
func (d *stateDir) diskFullError(err error, need int64) error {
	free, ok := fsutil.FreeBytes(d.files())
	if !ok {
		return err
	}
	if need > 0 {
		return fmt.Errorf("%w (%.1f MB free in %s; about %.1f MB of blobs still to download there)", err, units.MB(free), d.files(), units.MB(need))
	}
	return fmt.Errorf("%w (%.1f MB free in %s)", err, units.MB(free), d.files())
}

// diskDir is where the disk the run fills is measured: the state dir, or,
// before it exists (a dry run), the nearest folder above it that does.
func (d *stateDir) diskDir() string {
	for p := d.dir; p != "" && p != "/" && p != "."; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return d.dir
}

// exported reports whether an earlier run left a verified copy of the
// repo at carPath: the state names the commit it exported, recorded once
// the copy verified, and the file is there (to be re-checked).
func (d *stateDir) exported(carPath string) bool {
	return d.st.Repo.Commit != "" && fsutil.Exists(carPath)
}
