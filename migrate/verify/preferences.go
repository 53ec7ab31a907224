package verify

import (
	"bytes"
	"context"
	"encoding/json"
)

// verifyPreferences compares the account's preferences, which only the
// account itself can read, on either side.
func verifyPreferences(ctx context.Context, o Options, r *Report) {
	if !loggedIn(o.Old, o.DID) || !loggedIn(o.New, o.DID) {
		r.skip("preferences", "needs both accounts' passwords")
		return
	}
	a, err := o.Old.GetPreferences(ctx)
	if err != nil {
		r.add("preferences", false, "cannot read the old preferences: %v", err)
		return
	}
	b, err := o.New.GetPreferences(ctx)
	if err != nil {
		r.add("preferences", false, "cannot read the new preferences: %v", err)
		return
	}
	ca, cb := canonicalJSON(a), canonicalJSON(b)
	r.add("preferences", bytes.Equal(ca, cb), "%d bytes on the old PDS, %d on the new", len(ca), len(cb))
}

// canonicalJSON re-encodes JSON with sorted keys so that key order does
// not count as a difference.
func canonicalJSON(raw json.RawMessage) []byte {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}
