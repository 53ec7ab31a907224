package plc

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/did-method-plc/go-didplc/didplc"
)

// State is a DID's current PLC state, taken from a verified audit log.
type State struct {
	DID string
	Log []didplc.LogEntry
	// Head is the last non-nullified entry: the operation the next one must
	// name as prev, and whose rotation keys may sign it.
	Head didplc.LogEntry
	// Op is the current document data (the head op, a legacy "create" op
	// converted to a plc_operation), with Sig and Prev nil. It is a deep copy: changing
	// it does not touch Log.
	Op didplc.RegularOp
}

// StateFromLog verifies the audit log with didplc.VerifyOpLog (signatures,
// prev chain, nullification, timestamps) and returns the DID's current
// state. An empty log gives ErrDIDNotFound, a tombstoned DID ErrTombstoned.
func StateFromLog(did string, log []didplc.LogEntry) (*State, error) {
	if len(log) == 0 {
		return nil, fmt.Errorf("state of %s: %w", did, ErrDIDNotFound)
	}
	for i, e := range log {
		if e.DID != did {
			return nil, fmt.Errorf("audit log of %s: entry %d is for %q", did, i, e.DID)
		}
	}
	if err := didplc.VerifyOpLog(log); err != nil {
		return nil, fmt.Errorf("verify audit log of %s: %w", did, err)
	}
	headIdx := -1
	for i := len(log) - 1; i >= 0; i-- {
		if !log[i].Nullified {
			headIdx = i
			break
		}
	}
	if headIdx < 0 {
		return nil, fmt.Errorf("audit log of %s: every entry is nullified", did)
	}
	head := log[headIdx]
	if _, ok := head.Operation.AsOperation().(*didplc.TombstoneOp); ok {
		return nil, fmt.Errorf("state of %s: %w", did, ErrTombstoned)
	}
	doc := docOf(head)
	if doc == nil {
		return nil, fmt.Errorf("audit log of %s: head has an unknown operation type", did)
	}
	op := *doc
	return &State{DID: did, Log: slices.Clone(log), Head: head, Op: op}, nil
}

// CloneOp deep-copies op, turning nil slices and maps into empty ones so the
// JSON has [] and {} rather than null (the PLC refuses null).
func CloneOp(op *didplc.RegularOp) didplc.RegularOp {
	out := didplc.RegularOp{
		Type:                op.Type,
		RotationKeys:        append([]string{}, op.RotationKeys...),
		VerificationMethods: maps.Clone(op.VerificationMethods),
		AlsoKnownAs:         append([]string{}, op.AlsoKnownAs...),
		Services:            maps.Clone(op.Services),
	}
	if out.VerificationMethods == nil {
		out.VerificationMethods = map[string]string{}
	}
	if out.Services == nil {
		out.Services = map[string]didplc.OpService{}
	}
	if op.Prev != nil {
		p := *op.Prev
		out.Prev = &p
	}
	if op.Sig != nil {
		s := *op.Sig
		out.Sig = &s
	}
	return out
}

// RotationKeys returns a copy of the current rotation keys, highest
// priority first.
func (s *State) RotationKeys() []string {
	return slices.Clone(s.Op.RotationKeys)
}

// Endpoint returns the atproto_pds service endpoint ("" if none).
func (s *State) Endpoint() string {
	return s.Op.Services["atproto_pds"].Endpoint
}

// SigningKey returns the atproto verification method (a did:key, "" if none).
func (s *State) SigningKey() string {
	return s.Op.VerificationMethods["atproto"]
}

// Handle returns the first at:// entry of alsoKnownAs without its prefix
// ("" if none).
func (s *State) Handle() string {
	for _, a := range s.Op.AlsoKnownAs {
		if h, ok := strings.CutPrefix(a, "at://"); ok {
			return h
		}
	}
	return ""
}

// HasRotationKey reports whether didKey is one of the current rotation keys.
func (s *State) HasRotationKey(didKey string) bool {
	return slices.Contains(s.Op.RotationKeys, didKey)
}

// OpsSince counts the non-nullified operations created strictly after t. The
// PLC rate limits (10/hour, 30/day, 100/week per DID) count these.
func (s *State) OpsSince(t time.Time) int {
	n := 0
	for _, e := range s.Log {
		if e.Nullified {
			continue
		}
		at, err := parseCreatedAt(e.CreatedAt)
		if err != nil {
			// StateFromLog verified every timestamp; count an unparsable one
			// so the rate-limit check errs on the safe side.
			n++
			continue
		}
		if at.After(t) {
			n++
		}
	}
	return n
}

func parseCreatedAt(s string) (time.Time, error) {
	dt, err := syntax.ParseDatetime(s)
	if err != nil {
		return time.Time{}, err
	}
	return dt.Time(), nil
}

// headOp returns the head entry's operation as stored (for its
// EquivalentRotationKeys).
func (s *State) headOp() didplc.Operation {
	return s.Head.Operation.AsOperation()
}
