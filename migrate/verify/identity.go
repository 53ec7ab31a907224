package verify

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/atmigrate/atmigrate/migrate/servers"
)

// verifyIdentity checks the DID document: it must name the new PDS, the
// new PDS's signing key for the account and, for a did:plc, the new PDS's
// rotation key. The keys are known only from the new PDS's recommended
// credentials, which need the account's session.
func verifyIdentity(ctx context.Context, o Options, r *Report) error {
	st, err := o.Document(ctx, o.DID)
	if err != nil {
		return fmt.Errorf("read the DID's document: %w", err)
	}
	endpoint := servers.NormalURL(st.Endpoint())
	r.add("did-endpoint", endpoint == servers.NormalURL(o.NewPDS), "atproto_pds is %s (want %s)", cmp.Or(endpoint, "(none)"), o.NewPDS)
	checkSignedCommit(ctx, o, st, r)
	if !loggedIn(o.New, o.DID) {
		r.skip("did-signing-key", "needs the new account's password")
		r.skip("did-rotation-keys", "needs the new account's password")
		return nil
	}
	cred, err := o.New.GetRecommendedDidCredentials(ctx)
	if err != nil {
		return fmt.Errorf("get the new PDS's recommended credentials: %w", err)
	}
	want := cred.VerificationMethods["atproto"]
	r.add("did-signing-key", st.SigningKey() == want, "atproto key is %s (the new PDS signs with %s)", st.SigningKey(), want)
	var missing []string
	for _, k := range cred.RotationKeys {
		if !st.HasRotationKey(k) {
			missing = append(missing, k)
		}
	}
	if strings.HasPrefix(o.DID, "did:web:") {
		return nil // a did:web has no rotation keys: its host's owner controls it
	}
	r.add("did-rotation-keys", len(missing) == 0, "rotation keys %s; new PDS key(s) missing: %d", strings.Join(st.RotationKeys(), ", "), len(missing))
	return nil
}
