package migrate

import (
	"errors"
	"fmt"
)

// ErrPaused means the run stopped on purpose to wait for the PLC email
// token: the data is on the new PDS and the token has been requested. The
// same command with the token continues.
var ErrPaused = errors.New("waiting for the PLC email token")

// ErrAlreadyMigrated means a previous run finished this migration; nothing
// was changed.
var ErrAlreadyMigrated = errors.New("account already migrated")

// ErrNoTerminal is returned by a UI that cannot ask the user a question.
var ErrNoTerminal = errors.New("no terminal to ask the user")

// InputError is a problem with what the user gave us (a wrong password, a
// handle the new PDS does not allow). Nothing irreversible was done; fixing
// the input and running again is the way forward.
type InputError struct {
	Msg  string
	Hint string
	Err  error
}

func (e *InputError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErr(err error, hint, format string, args ...any) *InputError {
	return &InputError{Msg: fmt.Sprintf(format, args...), Hint: hint, Err: err}
}

// StageError wraps a failure with the stage it happened in and a hint for
// the user. State is kept; re-running resumes at that stage.
type StageError struct {
	Stage Stage
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
	return ""
}
