package checkpoint

import (
	"sync"
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

// Save writes the state file.
func (j *Journal) Save() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dir == "" {
		return nil
	}
	return j.st.Save(j.dir)
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
