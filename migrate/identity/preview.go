package identity

import (
	"fmt"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Placeholders for what the new PDS only decides when the account is
// created, as a preview shows them.
const (
	PlaceholderSigningKey  = "<signing key the new PDS creates for the account>"
	PlaceholderRotationKey = "<the new PDS's rotation key>"
)

// Preview is the operation a migration would sign, for the dry run.
type Preview struct {
	// Diff is the DID document as it is and as it would be.
	Diff string
	// Warnings are what the checks warn of; Refused is why they would
	// refuse the operation (nil: it passes).
	Warnings []string
	Refused  error
}

// Preview builds the operation a real run would sign from st, with
// stand-ins for the two keys the new PDS only creates with the account,
// and runs every check that does not need a signature. The error is an
// operation that cannot be built at all.
func (t Target) Preview(st *plc.State, now time.Time) (Preview, error) {
	standInSigning, err1 := standInKey()
	standInRotation, err2 := standInKey()
	if err1 != nil || err2 != nil {
		return Preview{}, nil // no stand-ins, no preview: the rest of the dry run stands
	}
	in, err := t.intent(&pds.Credentials{RotationKeys: []string{standInRotation}, VerificationMethods: map[string]string{"atproto": standInSigning}})
	if err != nil {
		return Preview{}, err
	}
	op, err := plc.BuildUpdate(st, in)
	if err != nil {
		return Preview{}, fmt.Errorf("build the PLC operation: %w", err)
	}
	var p Preview
	if rep, err := plc.Check(st, op, op, plc.CheckOptions{OpsNeeded: 1, Now: now}); err != nil {
		p.Refused = err
	} else {
		p.Warnings = rep.Warnings
	}
	diff := plc.DiffDocLabeled(&st.Op, op, keyLabels(st, in))
	diff = strings.ReplaceAll(diff, standInSigning, PlaceholderSigningKey)
	p.Diff = strings.ReplaceAll(diff, standInRotation, PlaceholderRotationKey)
	return p, nil
}

func standInKey() (string, error) {
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return "", err
	}
	return plc.DIDKey(k)
}
