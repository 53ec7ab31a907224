package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// lockFileName is the per-state-dir lock: one run of a migration at a time.
const lockFileName = "lock"

// BusyError means another atmigrate process holds the state dir: it is
// running this very migration (or batch) now.
type BusyError struct {
	Dir string
	PID int // 0 when the lock file does not say
}

func (e *BusyError) Error() string {
	who := "another atmigrate"
	if e.PID > 0 {
		who = fmt.Sprintf("another atmigrate (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is running this migration (state dir %s)", who, e.Dir)
}

// Hint says what to do about it.
func (e *BusyError) Hint() string {
	return "wait for it to finish (or stop it with Ctrl-C), then run the same command again"
}

// lockStateDir takes dir's lock without waiting and writes our PID into it,
// so a second run can name the first. The kernel drops the lock when the
// process dies, so a run killed with -9 leaves nothing stale behind.
func Lock(dir string) (unlock func(), err error) {
	if err := EnsureWritableDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFileName)
	unlock, held, err := fsutil.TryLock(path)
	if err != nil {
		return nil, DirError(dir, err)
	}
	if held {
		b, _ := os.ReadFile(path)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return nil, &BusyError{Dir: dir, PID: pid}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		unlock()
		return nil, DirError(dir, err)
	}
	return unlock, nil
}

// Running reports whether a run holds dir's lock now, and its PID when the
// lock file says. It never creates the lock file: `status` only reads.
func Running(dir string) (pid int, running bool) {
	path := filepath.Join(dir, lockFileName)
	if _, err := os.Stat(path); err != nil {
		return 0, false
	}
	unlock, held, err := fsutil.TryLock(path)
	if err != nil {
		return 0, false
	}
	if !held {
		unlock()
		return 0, false
	}
	b, _ := os.ReadFile(path)
	pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, true
}

// ensureWritableDir creates dir (0700) and proves that a file can be
// written in it, before any server is contacted: a run that could not save
// its checkpoint must not start changing servers.
func EnsureWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return DirError(dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return DirError(dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	os.Remove(name)
	if werr != nil {
		return DirError(dir, werr)
	}
	if cerr != nil {
		return DirError(dir, cerr)
	}
	return nil
}

// stateDirError classifies a failure to use the state dir: a full disk can
// be fixed by freeing space and running again (exit 1); anything else
// means the directory cannot be used and another must be chosen (exit 2).
func DirError(dir string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &failure.StageError{Stage: stage.Login, Err: fmt.Errorf("the state dir %s: %w", dir, err),
			Hint: "free some space there, then run the same command again"}
	}
	return failure.Input(err, "pass {state-dir} with a directory you can write to; nothing was changed on any server",
		"cannot write the state dir %s", dir)
}

// boundToTarget reports whether this state dir has written something to a
// server for its target (an account created, a PLC operation recorded):
// only then does it belong to that new PDS. Before, a corrected --new-pds
// simply takes the state dir over.
func (st *State) BoundToTarget() bool {
	return st.AccountCreated || st.CreatingAccount || st.PLC.OpCID != "" || st.PLC.TempSigningKeyOpCID != "" || st.Completed
}

// loadRunState is the state a run in dir starts from: the state file's,
// or a fresh one. A state dir that belongs to another DID is refused
// rather than overwritten; one that belongs to another new PDS is refused
// only once it wrote something there. Otherwise the earlier run was a
// mistake (a typo, a closed port) and is forgotten: forgot names the new
// PDS it was for.
func LoadForRun(dir string, t Target) (st *State, forgot string, err error) {
	did := t.DID
	st, err = Load(dir)
	switch {
	case err != nil:
		return nil, "", err
	case st == nil:
		return Fresh(t), "", nil
	case st.DID != did:
		return nil, "", failure.Input(nil, "use another {state-dir} for this account", "the state dir %s belongs to %s, not %s", dir, st.DID, did)
	case st.NewPDS == "" || st.NewPDS == t.NewPDS:
		return st, "", nil
	case st.Completed:
		return nil, "", failure.Input(nil, "that migration is complete; use another {state-dir} (or the default one) for a new move",
			"the state dir %s holds the finished migration to %s, not one to %s", dir, st.NewPDS, t.NewPDS)
	case st.BoundToTarget():
		return nil, "", failure.Input(nil, "finish that migration (run it with {new-pds} "+st.NewPDS+"), or use another {state-dir}",
			"the state dir %s is for a migration to %s, which already has the account, not %s", dir, st.NewPDS, t.NewPDS)
	}
	return Fresh(t), st.NewPDS, nil
}

// Target is what a run's state dir is for: one DID moving to one new PDS,
// its data read from the old PDS or from a backup.
type Target struct {
	DID, NewPDS, PLCURL string
	// FromBackup is the backup directory the data comes from ("": the
	// old PDS).
	FromBackup string
}

// freshState is the state of a migration that has not started.
func Fresh(t Target) *State {
	st := &State{DID: t.DID, NewPDS: t.NewPDS, PLCURL: t.PLCURL, Started: time.Now().UTC(), Stages: map[stage.Stage]*StageStatus{}}
	st.Source = "pds"
	if t.FromBackup != "" {
		st.Source = "backup:" + t.FromBackup
	}
	return st
}
