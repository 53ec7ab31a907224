package plc

import (
	"errors"
	"strings"
	"time"
)

var (
	// ErrDIDNotFound means the PLC directory has no log for the DID (HTTP
	// 404), or the log it returned was empty.
	ErrDIDNotFound = errors.New("DID not found in PLC directory")
	// ErrTombstoned means the DID's current operation is a tombstone: the
	// identity was deleted and cannot be updated any more.
	ErrTombstoned = errors.New("DID is tombstoned (deleted) in PLC directory")
	// ErrInvalidKey is returned (wrapped) when key text cannot be parsed.
	// Messages wrapping it never contain the key material.
	ErrInvalidKey = errors.New("invalid private key")
	// ErrSuperseded is returned (wrapped) by Await when the awaited
	// operation is in the audit log but is not the DID's current one: it
	// was nullified, or another operation followed it.
	ErrSuperseded = errors.New("operation superseded")
)

// SubmitError is a non-2xx answer of the PLC directory to an operation
// submission. Message is the directory's own {"message"} text (or the start
// of the body when it is not JSON), so the user sees why it was refused.
type SubmitError struct {
	Status  int
	Message string
	// RetryAfter is the wait a 429 or 503 announced; zero when none.
	RetryAfter time.Duration
}

func (e *SubmitError) Error() string {
	return "plc directory rejected operation: " + statusText(e.Status, e.Message, e.RetryAfter)
}

// CheckError lists every problem Check found with an operation. Any problem
// means the operation must not be submitted.
type CheckError struct {
	Problems []string
}

func (e *CheckError) Error() string {
	return "plc operation check failed: " + strings.Join(e.Problems, "; ")
}
