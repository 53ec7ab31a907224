package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// Journal is the one writer of a run's state: every change goes through
// Update, under its lock (blob workers record in parallel), and Save
// writes the file atomically. A Journal without a directory (the dry
// run's) keeps its changes in memory and writes nothing.
type Journal struct {
	dir string
	mu  sync.Mutex
	st  *State

	// makeRoom, when set, frees at least need bytes on the state dir's
	// disk if it can (the blobs fetched ahead of the uploads), and
	// reports whether it freed any; see OnDiskFull.
	makeRoom func(need int64) bool
}

// NewJournal is the journal of st, saved in dir ("": never saved).
func NewJournal(dir string, st *State) *Journal { return &Journal{dir: dir, st: st} }

// Dir is the state directory ("" for a journal that is never saved).
func (j *Journal) Dir() string { return j.dir }

// State is the state for reading. Writers use Update.
func (j *Journal) State() *State { return j.st }

// Update changes the state under the journal's lock, without saving.
func (j *Journal) Update(fn func(st *State)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j.st)
}

// OnDiskFull sets what Save calls when the disk is full: fn frees at
// least need bytes if it can and reports whether it freed any; Save then
// writes once more. The blob copy sets it while blobs fetched ahead sit
// on the disk, so that another program filling the disk costs a blob
// fetched again, not a stopped run. fn must not use the journal. nil
// removes it.
func (j *Journal) OnDiskFull(fn func(need int64) bool) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.makeRoom = fn
}

// Save writes the state file. On a full disk it asks for room (see
// OnDiskFull) and, only once some was made, writes again.
func (j *Journal) Save() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dir == "" {
		return nil
	}
	err := j.st.Save(j.dir)
	if err != nil && j.makeRoom != nil && isDiskFull(err) && j.makeRoom(j.roomToSave()) {
		err = j.st.Save(j.dir)
	}
	return err
}

// roomToSave is what a save needs free: the state written again beside
// the current file, twice over for its growth, and a little for the
// directory.
func (j *Journal) roomToSave() int64 {
	var size int64 = 16 << 10
	if fi, err := os.Stat(filepath.Join(j.dir, FileName)); err == nil {
		size = max(size, fi.Size())
	}
	return 2*size + 64<<10
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// MarkDone records that stage s finished, with its note, and saves.
func (j *Journal) MarkDone(s stage.Stage, note string, start time.Time) error {
	j.Update(func(st *State) {
		ss := st.Stage(s)
		ss.Done = true
		if ss.Started.IsZero() {
			ss.Started = start.UTC()
		}
		ss.Finished = time.Now().UTC()
		ss.Note = note
	})
	return j.Save()
}

// Status is stage s's checkpoint, if it has one.
func (j *Journal) Status(s stage.Stage) (StageStatus, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ss := j.st.Stages[s]
	if ss == nil {
		return StageStatus{}, false
	}
	return *ss, true
}

// RecordStop records how the run stopped (the message and the stage it
// names) and saves, as well as it can: the stop being reported matters
// more than a failure to record it.
func (j *Journal) RecordStop(stop Stop, at stage.Stage, msg string) {
	j.Update(func(st *State) {
		st.LastStop, st.LastError, st.LastErrorStage = stop, msg, at
	})
	_ = j.Save()
}
