package plc

import (
	"strings"
	"testing"

	"github.com/did-method-plc/go-didplc/didplc"
)

func TestDiffDoc(t *testing.T) {
	before := &didplc.RegularOp{
		RotationKeys:        []string{"did:key:zUser", "did:key:zOldPDS"},
		VerificationMethods: map[string]string{"atproto": "did:key:zOldSig", "labeler": "did:key:zLab"},
		AlsoKnownAs:         []string{"at://alice.old.test", "https://alice.example"},
		Services: map[string]didplc.OpService{
			"atproto_pds":     {Type: "AtprotoPersonalDataServer", Endpoint: "https://old.example"},
			"atproto_labeler": {Type: "AtprotoLabeler", Endpoint: "https://lab.example"},
		},
	}
	after := &didplc.RegularOp{
		RotationKeys:        []string{"did:key:zExtra", "did:key:zUser", "did:key:zNewPDS"},
		VerificationMethods: map[string]string{"atproto": "did:key:zNewSig", "labeler": "did:key:zLab"},
		AlsoKnownAs:         []string{"at://alice.new.test", "https://alice.example"},
		Services: map[string]didplc.OpService{
			"atproto_pds":     {Type: "AtprotoPersonalDataServer", Endpoint: "https://new.example"},
			"atproto_labeler": {Type: "AtprotoLabeler", Endpoint: "https://lab.example"},
		},
	}
	got := DiffDocLabeled(before, after, map[string]string{"did:key:zUser": "yours", "did:key:zNewPDS": "new PDS"})
	want := `alsoKnownAs:
- at://alice.old.test
+ at://alice.new.test
  https://alice.example
rotationKeys:
+ [0] did:key:zExtra
  [1] did:key:zUser (yours) (was [0])
- [1] did:key:zOldPDS
+ [2] did:key:zNewPDS (new PDS)
verificationMethods:
- atproto: did:key:zOldSig
+ atproto: did:key:zNewSig
  labeler: did:key:zLab
services:
  atproto_labeler: https://lab.example (AtprotoLabeler)
- atproto_pds: https://old.example (AtprotoPersonalDataServer)
+ atproto_pds: https://new.example (AtprotoPersonalDataServer)
`
	if got != want {
		t.Errorf("DiffDoc:\n%s\nwant:\n%s", got, want)
	}

	// Identical documents: no +/- lines.
	same := DiffDoc(before, before)
	for _, l := range strings.Split(strings.TrimSpace(same), "\n") {
		if strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-") {
			t.Errorf("unchanged doc has change line %q", l)
		}
	}
	// A nil before (genesis) shows everything as added.
	if g := DiffDoc(nil, after); !strings.Contains(g, "+ [0] did:key:zExtra") || !strings.Contains(g, "+ atproto_pds:") {
		t.Errorf("nil before:\n%s", g)
	}
}
