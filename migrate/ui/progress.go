package ui

import (
	"errors"
	"time"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// Progress receives what the pipeline is doing. The CLI draws bars from it;
// tests and batch runs record it. Implementations must be safe for
// concurrent use: blob workers report in parallel.
type Progress interface {
	// StageStart is called when a stage begins (or resumes).
	StageStart(s stage.Stage)
	// StageDone is called when a stage completed; note summarises it.
	StageDone(s stage.Stage, note string)
	// StageSkip is called for a stage that has nothing to do (already done,
	// or turned off by an option).
	StageSkip(s stage.Stage, reason string)
	// Transfer announces a transfer of count items and bytes bytes (count 1
	// for the repo; -1 bytes when unknown).
	Transfer(kind TransferKind, count int, bytes int64)
	// Advance reports progress of a transfer: items completed and bytes
	// moved since the last call (bytes may be negative when a retry
	// restarts a stream).
	Advance(kind TransferKind, items int, bytes int64)
	// Retry reports that a request failed and will be tried again.
	Retry(host, method string, attempt int, wait time.Duration, err error, rateLimited bool)
	// Info and Warn report messages for the user.
	Info(msg string)
	Warn(msg string)
}

// TransferKind names the thing being moved.
type TransferKind string

// Transfer kinds.
const (
	TransferRepoDownload TransferKind = "repo download"
	TransferRepoImport   TransferKind = "repo import"
	TransferBlobs        TransferKind = "blobs"
)

// OrNop is p, or NopProgress when p is nil.
func OrNop(p Progress) Progress {
	if p == nil {
		return NopProgress{}
	}
	return p
}

// NopProgress ignores everything.
type NopProgress struct{}

func (NopProgress) StageStart(stage.Stage)                                {}
func (NopProgress) StageDone(stage.Stage, string)                         {}
func (NopProgress) StageSkip(stage.Stage, string)                         {}
func (NopProgress) Transfer(TransferKind, int, int64)                     {}
func (NopProgress) Advance(TransferKind, int, int64)                      {}
func (NopProgress) Retry(string, string, int, time.Duration, error, bool) {}
func (NopProgress) Info(string)                                           {}
func (NopProgress) Warn(string)                                           {}

// UI is how the pipeline asks the user something. A UI that cannot ask
// returns ErrNoTerminal.
type Prompter interface {
	// PLCToken asks for the token the old PDS just emailed to email.
	PLCToken(email string) (string, error)
	// Confirm shows details and asks a yes/no question.
	Confirm(question, details string) (bool, error)
}

// NoUI never asks: every question returns ErrNoTerminal.
type NoPrompter struct{}

func (NoPrompter) PLCToken(string) (string, error)      { return "", ErrNoTerminal }
func (NoPrompter) Confirm(string, string) (bool, error) { return false, ErrNoTerminal }

// ErrNoTerminal is returned by a UI that cannot ask the user a question.
var ErrNoTerminal = errors.New("no terminal to ask the user")
