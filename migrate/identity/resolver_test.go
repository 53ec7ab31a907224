package identity

import (
	"context"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/servers"
)

// The resolver as a run builds it: a handle through the old PDS when one
// is named (the URL as typed), a DID as is, and bad input for an unknown
// handle, something that is neither, and a DID of another method.
func TestResolve(t *testing.T) {
	f := newFakeNet(t)
	ctx := context.Background()
	resolver := func(oldPDS string) Resolver {
		srv := servers.New(nil, nil, nil, nil)
		return Resolver{Servers: srv, PLC: srv.PLC(f.plc.URL), PLCURL: f.plc.URL, OldPDS: servers.NormalURL(oldPDS)}
	}
	if did, err := resolver(f.a.URL+"/").Resolve(ctx, "Alice.Test"); err != nil || did != f.did {
		t.Errorf("handle through the PDS: %s %v", did, err)
	}
	if did, err := resolver("").Resolve(ctx, f.did); err != nil || did != f.did {
		t.Errorf("a DID: %s %v", did, err)
	}
	_, err := resolver(f.a.URL).Resolve(ctx, "nobody.test")
	wantInput(t, err, "does not know the handle nobody.test")
	_, err = resolver("").Resolve(ctx, "not a handle")
	wantInput(t, err, "neither a handle nor a DID")
	_, err = resolver("").Resolve(ctx, "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")
	wantInput(t, err, "did:key account")
}
