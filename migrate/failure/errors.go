package failure

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/stall"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// ErrPaused means the run stopped on purpose to wait for the PLC email
// token: the data is on the new PDS and the token has been requested. The
// same command with the token continues.
var ErrPaused = errors.New("waiting for the PLC email token")

// ErrAlreadyMigrated means a previous run finished this migration; nothing
// was changed.
var ErrAlreadyMigrated = errors.New("account already migrated")

// InputError is a problem with what the user gave us (a wrong password, a
// handle the new PDS does not allow). Nothing irreversible was done; fixing
// the input and running again is the way forward.
type InputError struct {
	Msg  string
	Hint string
	Err  error
	// Code names the problem for scripts and for callers that branch on
	// it (CodeSignInCode); "" for most.
	Code string
}

// Codes of InputError.
const (
	// CodeSignInCode: the PDS asks for the sign-in code it emailed
	// (--auth-factor-token).
	CodeSignInCode = "sign-in-code"
)

func (e *InputError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *InputError) Unwrap() error { return e.Err }

func Input(err error, hint, format string, args ...any) *InputError {
	return &InputError{Msg: fmt.Sprintf(format, args...), Hint: hint, Err: err}
}

// StageError wraps a failure with the stage it happened in and a hint for
// the user. State is kept; re-running resumes at that stage.
type StageError struct {
	Stage stage.Stage
	Err   error
	Hint  string
}

func (e *StageError) Error() string { return string(e.Stage) + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Hint returns the most specific hint attached to err, if any.
func Hint(err error) string {
	var ie *InputError
	if errors.As(err, &ie) && ie.Hint != "" {
		return ie.Hint
	}
	var se *StageError
	if errors.As(err, &se) && se.Hint != "" {
		return se.Hint
	}
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	if errors.Is(err, stall.ErrStalled) {
		return StallHint
	}
	return ""
}

// StallHint is what to do after a server stalled (internal/stall): the
// attempts were spent, the state is kept, and a later run starts a fresh
// connection where this one stopped.
const StallHint = "the server may be overloaded, or the connection dropped: run the same command again, it resumes where this run stopped; " +
	"if the server keeps stalling, try later, or give it longer with {stall-timeout}"

// classify turns a stage's unexpected error into one the user can act on:
// bad input (exit 2, with what to change) when running again cannot help,
// transient (exit 1, resumable) otherwise. A "run again" hint is only ever
// given for what running again can fix.
func Classify(s stage.Stage, err error) error {
	var ae *pds.APIError
	switch {
	case IsDiskFull(err):
		return &StageError{Stage: s, Err: err, Hint: "the disk is full: free some space where the state dir is, then run the same command again"}
	case isLocalUnwritable(err):
		return &InputError{Msg: string(s) + ": " + err.Error(), Err: err,
			Hint: "the state dir cannot be written; fix its permissions or pass {state-dir} with another directory, then run the same command"}
	case errors.As(err, &ae) && !pds.IsTransient(err) && ae.Status >= 400 && ae.Status < 500:
		return &InputError{Msg: string(s) + ": " + err.Error(), Err: err,
			Hint: fmt.Sprintf("%s refused the request, and would refuse it again: running the same command again will not help until what it names is fixed", ae.Host)}
	}
	if errors.Is(err, stall.ErrStalled) {
		return &StageError{Stage: s, Err: err, Hint: StallHint}
	}
	return &StageError{Stage: s, Err: err, Hint: "run the same command again to resume; `atmigrate status` shows the state"}
}

// isDiskFull reports a full disk or an exhausted quota: resumable once
// space is freed.
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isLocalUnwritable reports a state dir that cannot be written at all.
func isLocalUnwritable(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// isLocalError is a failure of this machine's disk, never a network's:
// retrying the request cannot help, and the run stops at once.
func IsLocal(err error) bool { return IsDiskFull(err) || isLocalUnwritable(err) }

// PauseError stops a run on purpose until the user does something; the
// same command continues. It matches ErrPaused.
type PauseError struct {
	Reason string
	Hint   string
}

func (e *PauseError) Error() string        { return e.Reason }
func (e *PauseError) Is(target error) bool { return target == ErrPaused }

// hintedError is an error of a command outside the staged pipeline (plc
// add-rotation-key, plc recover) that still tells the user what to do.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }
func (e *hintedError) Hint() string  { return e.hint }

// withHint is err with a hint for the user.
func WithHint(err error, hint string) error { return &hintedError{err: err, hint: hint} }
