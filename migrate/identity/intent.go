package identity

import (
	"fmt"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
)

// Target is what a migration wants the DID document to say, before the
// new PDS has said which keys it holds for the account.
type Target struct {
	// Endpoint is the new PDS's URL, unless the new PDS recommends another.
	Endpoint string
	// Handle is the new handle, unless the new PDS recommends another.
	Handle string
	// DropRotationKeys are the old PDS's own rotation keys;
	// AddRotationKeys the user's, put at the top.
	DropRotationKeys, AddRotationKeys []string
}

// intent is what the document must become: the new PDS's endpoint and
// signing key, as its recommended credentials cred say, the user's own
// rotation keys kept first.
func (t Target) intent(cred *pds.Credentials) (plc.Intent, error) {
	in := plc.Intent{
		Endpoint:         t.Endpoint,
		SigningKey:       cred.VerificationMethods["atproto"],
		PDSRotationKeys:  cred.RotationKeys,
		DropRotationKeys: t.DropRotationKeys,
		AddRotationKeys:  t.AddRotationKeys,
		Handle:           t.Handle,
	}
	if s, ok := cred.Services["atproto_pds"]; ok && s.Endpoint != "" {
		in.Endpoint = s.Endpoint
	}
	if in.SigningKey == "" {
		return in, fmt.Errorf("the new PDS recommended no atproto signing key")
	}
	for _, aka := range cred.AlsoKnownAs {
		if h, ok := strings.CutPrefix(aka, "at://"); ok {
			in.Handle = h
			break
		}
	}
	return in, nil
}

// matches reports whether the document already says what in wants of it.
func matches(st *plc.State, in plc.Intent) bool {
	return PointsAt(st, in.Endpoint) && st.SigningKey() == in.SigningKey
}

// PointsAt reports whether the DID's document already names endpoint.
func PointsAt(st *plc.State, endpoint string) bool {
	return st != nil && servers.NormalURL(st.Endpoint()) == servers.NormalURL(endpoint)
}

// keyLabels names whose each rotation key is, for the diff shown before
// the operation is submitted.
func keyLabels(st *plc.State, in plc.Intent) map[string]string {
	labels := map[string]string{}
	for _, k := range st.RotationKeys() {
		labels[k] = "yours"
	}
	for _, k := range in.AddRotationKeys {
		labels[k] = "yours, added"
	}
	for _, k := range in.DropRotationKeys {
		labels[k] = "old PDS"
	}
	for _, k := range in.PDSRotationKeys {
		labels[k] = "new PDS"
	}
	labels[in.SigningKey] = "new PDS signing key"
	return labels
}
