package plc_test

import (
	"fmt"
	"log"

	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// An operation survives the JSON round trip through a PDS's
// signPlcOperation/submitPlcOperation unchanged: same CID, still verifies.
func ExampleOpJSON() {
	key, err := plc.GenerateK256()
	if err != nil {
		log.Fatal(err)
	}
	didKey, _ := plc.DIDKey(key)
	prev := "bafyreigd6ecgvaogmdtfj2ycbwgsrz2bdnhxvc6xavrbo5mumgvv3ua4ga"
	op := &didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{didKey},
		VerificationMethods: map[string]string{"atproto": didKey},
		AlsoKnownAs:         []string{"at://alice.test"},
		Services: map[string]didplc.OpService{
			"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "https://pds.example"},
		},
		Prev: &prev,
	}
	if err := plc.Sign(op, key); err != nil {
		log.Fatal(err)
	}
	raw, err := plc.OpJSON(op)
	if err != nil {
		log.Fatal(err)
	}
	back, err := plc.ParseOp(raw)
	if err != nil {
		log.Fatal(err)
	}
	_, verr := didplc.VerifySignatureAny(back, []string{didKey})
	fmt.Println("same CID:", plc.OpCID(back) == plc.OpCID(op))
	fmt.Println("signature ok:", verr == nil)
	// Output:
	// same CID: true
	// signature ok: true
}
