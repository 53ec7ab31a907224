package plc

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/retry"
)

// DefaultLagWait is how long Await waits for the directory to show an
// operation when Client.LagWait is zero. plc.directory serves reads from
// replicas since 2026, which may lag behind the primary that took a write;
// two minutes is far beyond the lag seen, and short enough to wait for.
const DefaultLagWait = 2 * time.Minute

// maxPollDelay caps the pause between two reads of Await: a replica's lag is
// seconds, and the policy's own cap (15 s by default) would add as much
// again to every wait.
const maxPollDelay = 5 * time.Second

// LagError means the directory accepted an operation but did not show it
// within the wait: its audit log or its document still lags behind.
// Nothing is wrong with the operation; reading again later settles it.
type LagError struct {
	DID, OpCID string
	Waited     time.Duration
	// Seen is what the last read showed instead, in words.
	Seen string
}

func (e *LagError) Error() string {
	return fmt.Sprintf("the PLC directory accepted operation %s for %s but does not show it yet after %s (%s)",
		e.OpCID, e.DID, e.Waited.Round(time.Second), e.Seen)
}

// Await reads the DID back until the directory shows op: op's CID is the
// live head of an audit log that verifies, and the document
// (GET /{did}/data) carries op's rotation keys, verification methods,
// services and alsoKnownAs. It returns the state of that log. Every
// submitter calls it before the next step reads the DID, since a read
// replica may lag behind the write.
//
// Reads are polled with the retry policy's backoff (capped at 5 s) for at
// most LagWait;
// then it returns a *LagError. An op the log holds that is not the head
// (nullified, or followed by another) is ErrSuperseded, at once. Each read has the policy's retries of its
// own: an error that outlasts them ends the wait (it is returned, never
// swallowed).
func (c *Client) Await(ctx context.Context, did string, op *didplc.RegularOp) (*State, error) {
	wait := c.LagWait
	if wait <= 0 {
		wait = DefaultLagWait
	}
	cid := OpCID(op)
	p := c.Retry.WithDefaults()
	p.MaxDelay = min(p.MaxDelay, maxPollDelay)
	p.BaseDelay = min(p.BaseDelay, p.MaxDelay)
	start := time.Now()
	for poll := 1; ; poll++ {
		st, seen, err := c.shows(ctx, did, cid, op)
		if err != nil {
			return nil, fmt.Errorf("read back operation %s: %w", cid, err)
		}
		if seen == "" {
			return st, nil
		}
		d := p.Backoff(poll)
		if time.Since(start)+d > wait {
			return nil, &LagError{DID: did, OpCID: cid, Waited: time.Since(start), Seen: seen}
		}
		if err := retry.Sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("wait for operation %s: %w", cid, err)
		}
	}
}

// shows reads the log and the document once. seen is "" when both show
// op, else what they show instead.
func (c *Client) shows(ctx context.Context, did, cid string, op *didplc.RegularOp) (st *State, seen string, err error) {
	st, err = c.State(ctx, did)
	if err != nil {
		return nil, "", err
	}
	if st.Head.CID != cid {
		for _, e := range st.Log {
			if e.CID == cid {
				// Not lag: the directory shows the op, and something
				// came after it or undid it. Waiting will not change that.
				return nil, "", fmt.Errorf("operation %s is in the audit log, but the DID's current operation is %s: %w", cid, st.Head.CID, ErrSuperseded)
			}
		}
		return nil, "the audit log's head is " + st.Head.CID, nil
	}
	data, err := c.Data(ctx, did)
	if err != nil {
		return nil, "", err
	}
	if !sameDocument(data, op) {
		return nil, "the audit log has it, the document does not reflect it", nil
	}
	return st, "", nil
}

// sameDocument compares the fields a document takes from its operation.
func sameDocument(a, b *didplc.RegularOp) bool {
	return slices.Equal(a.RotationKeys, b.RotationKeys) && slices.Equal(a.AlsoKnownAs, b.AlsoKnownAs) &&
		maps.Equal(a.VerificationMethods, b.VerificationMethods) && maps.Equal(a.Services, b.Services)
}
