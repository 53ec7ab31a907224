package repo

import "errors"

// ErrBlobMismatch is wrapped by every error that reports blob bytes whose
// size or hash do not match the expected CID.
var ErrBlobMismatch = errors.New("blob content does not match its CID")

// VerifyError reports why a repo CAR failed verification. Reason names the
// offending record, block or key; Err, when set, is the underlying cause.
type VerifyError struct {
	Reason string
	Err    error
}

// Error implements error.
func (e *VerifyError) Error() string {
	if e.Err != nil {
		return "verify repo CAR: " + e.Reason + ": " + e.Err.Error()
	}
	return "verify repo CAR: " + e.Reason
}

// Unwrap returns the underlying cause, if any.
func (e *VerifyError) Unwrap() error { return e.Err }

func verifyErr(err error, reason string) *VerifyError {
	return &VerifyError{Reason: reason, Err: err}
}
