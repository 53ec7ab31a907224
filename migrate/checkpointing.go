package migrate

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

func (m *Migrator) markDone(s stage.Stage, note string, start time.Time) error {
	if m.st == nil {
		return nil
	}
	return m.journal().MarkDone(s, note, start)
}

func (m *Migrator) save() error {
	if m.st == nil {
		return nil
	}
	return m.journal().Save()
}

// journal is the writer of m.st, saving to the state dir (never, for a
// run whose actor records its effects: the dry run writes nothing).
func (m *Migrator) journal() *checkpoint.Journal {
	if m.j == nil || m.j.State() != m.st {
		dir := m.dir
		if m.act.recording() {
			dir = ""
		}
		m.j = checkpoint.NewJournal(dir, m.st)
	}
	return m.j
}

func (m *Migrator) recordError(stop checkpoint.Stop, err error) {
	at, msg := m.current, err.Error()
	var se *failure.StageError
	if errors.As(err, &se) {
		at, msg = se.Stage, se.Err.Error()
	}
	m.journal().RecordStop(stop, at, msg)
}

// path is one of the run's data files: the repo, the blob list and the
// blobs, kept in the state dir (in a temporary directory, for the dry
// run).
func (m *Migrator) path(name string) string { return filepath.Join(m.files(), name) }

// files is the directory of the run's data files.
func (m *Migrator) files() string { return cmp.Or(m.dataDir, m.dir) }

// removeData deletes the copies of the repo and blobs once the migration
// is complete and checked: they are on the new PDS now, and a large
// account's blobs would otherwise sit in the state dir forever. `atmigrate
// export` is the way to keep a backup.
func (m *Migrator) removeData() {
	var freed int64
	for _, name := range []string{"repo.car", "blobs"} {
		p := m.path(name)
		_ = filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				freed += fi.Size()
			}
			return nil
		})
		if err := os.RemoveAll(p); err != nil {
			m.prog.Warn(fmt.Sprintf("could not remove %s: %v", p, err))
		}
	}
	matches, _ := filepath.Glob(m.path("diff-*.car"))
	for _, p := range matches {
		os.Remove(p)
	}
	if freed > 0 {
		m.prog.Info(fmt.Sprintf("removed %.1f MB of transfer copies from %s", float64(freed)/1e6, m.files()))
	}
}

func (m *Migrator) stageStatus(s stage.Stage) *checkpoint.StageStatus {
	if m.st == nil {
		return nil
	}
	if ss, ok := m.journal().Status(s); ok {
		return &ss
	}
	return nil
}

// diskFullError says how much space the state dir's disk has and about
// how much more the run still has to write there.
func (m *Migrator) diskFullError(err error) error {
	free, ok := fsutil.FreeBytes(m.files())
	if !ok {
		return err
	}
	var need int64
	if m.blobs != nil {
		need = m.blobs.StillToDownload()
	}
	if need > 0 {
		return fmt.Errorf("%w (%.1f MB free in %s; about %.1f MB of blobs still to download there)", err, units.MB(free), m.files(), units.MB(need))
	}
	return fmt.Errorf("%w (%.1f MB free in %s)", err, units.MB(free), m.files())
}

// diskDir is where the disk the run fills is measured: the state dir, or,
// before it exists (a dry run), the nearest folder above it that does.
func (m *Migrator) diskDir() string {
	for d := m.dir; d != "" && d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	return m.dir
}
