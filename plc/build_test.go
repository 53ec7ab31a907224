package plc

import (
	"slices"
	"testing"

	"github.com/did-method-plc/go-didplc/didplc"
)

func TestBuildUpdateMerges(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	extraUser := pubDID(t, newKey(t))
	in := f.intent()
	in.AddRotationKeys = []string{extraUser}
	op, err := BuildUpdate(s, in)
	if err != nil {
		t.Fatal(err)
	}
	if op.Type != "plc_operation" || op.Prev == nil || *op.Prev != s.Head.CID || op.Sig != nil {
		t.Fatalf("bad header: type %q prev %v sig %v", op.Type, op.Prev, op.Sig)
	}
	wantKeys := []string{extraUser, pubDID(t, f.user), pubDID(t, f.newPDS)}
	if !slices.Equal(op.RotationKeys, wantKeys) {
		t.Errorf("rotationKeys = %v, want %v", op.RotationKeys, wantKeys)
	}
	if op.VerificationMethods["atproto"] != pubDID(t, f.newSig) {
		t.Errorf("atproto vm = %s", op.VerificationMethods["atproto"])
	}
	if op.VerificationMethods["labeler"] != pubDID(t, f.stranger) {
		t.Error("extra verification method dropped")
	}
	if got := op.Services["atproto_pds"]; got != (didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://new.example"}) {
		t.Errorf("atproto_pds = %+v", got)
	}
	if got := op.Services["atproto_labeler"]; got.Endpoint != "https://labeler.example" {
		t.Error("extra service dropped")
	}
	if want := []string{"at://alice.new.test", "https://alice.example"}; !slices.Equal(op.AlsoKnownAs, want) {
		t.Errorf("alsoKnownAs = %v, want %v", op.AlsoKnownAs, want)
	}
	// The state must not have been modified.
	if s.Endpoint() != "https://old.example" || len(s.Op.RotationKeys) != 2 {
		t.Error("BuildUpdate mutated the state")
	}
}

func TestBuildUpdateKeepsHandleAndDedupes(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	in := f.intent()
	in.Handle = ""
	user := pubDID(t, f.user)
	// The user key is listed again in Add and the new PDS key twice: no duplicates.
	in.AddRotationKeys = []string{user, user}
	in.PDSRotationKeys = []string{pubDID(t, f.newPDS), pubDID(t, f.newPDS)}
	op, err := BuildUpdate(s, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{user, pubDID(t, f.newPDS)}; !slices.Equal(op.RotationKeys, want) {
		t.Errorf("rotationKeys = %v, want %v", op.RotationKeys, want)
	}
	if !slices.Equal(op.AlsoKnownAs, s.Op.AlsoKnownAs) {
		t.Errorf("alsoKnownAs changed: %v", op.AlsoKnownAs)
	}
}

// Keys that are neither the old PDS's nor the new one's (a second user key,
// a server recovery key) keep their relative order between the added keys
// and the new PDS key.
func TestBuildUpdateKeepsUnknownKeysInOrder(t *testing.T) {
	f := newFixture(t)
	k2, k3 := pubDID(t, newKey(t)), pubDID(t, newKey(t))
	f.appendOp(func(op *didplc.RegularOp) {
		op.RotationKeys = []string{pubDID(t, f.user), k2, pubDID(t, f.oldPDS), k3}
	}, f.user, nowMinus(40))
	in := f.intent()
	in.AddRotationKeys = []string{k3}
	op, err := BuildUpdate(f.state(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{k3, pubDID(t, f.user), k2, pubDID(t, f.newPDS)}
	if !slices.Equal(op.RotationKeys, want) {
		t.Errorf("rotationKeys = %v, want %v", op.RotationKeys, want)
	}
}

func TestBuildUpdateRejectsBadIntent(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	for name, mut := range map[string]func(*Intent){
		"trailing slash":  func(in *Intent) { in.Endpoint = "https://new.example/" },
		"no endpoint":     func(in *Intent) { in.Endpoint = "" },
		"bad signing key": func(in *Intent) { in.SigningKey = "did:key:nope" },
		"no pds key":      func(in *Intent) { in.PDSRotationKeys = nil },
		"bad add key":     func(in *Intent) { in.AddRotationKeys = []string{"zQ3sh"} },
		"bad handle":      func(in *Intent) { in.Handle = "not a handle" },
	} {
		in := f.intent()
		mut(&in)
		if _, err := BuildUpdate(s, in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBuildSigningKeyAndAddRotationKey(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	tmp := pubDID(t, newKey(t))
	op, err := BuildSigningKeyUpdate(s, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if op.VerificationMethods["atproto"] != tmp || op.Services["atproto_pds"].Endpoint != "https://old.example" ||
		!slices.Equal(op.RotationKeys, s.Op.RotationKeys) || *op.Prev != s.Head.CID {
		t.Errorf("signing key update changed more than the key: %+v", op)
	}

	nk := pubDID(t, newKey(t))
	op, err = BuildAddRotationKey(s, nk)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{nk}, s.Op.RotationKeys...); !slices.Equal(op.RotationKeys, want) {
		t.Errorf("rotationKeys = %v", op.RotationKeys)
	}
	op, err = BuildAddRotationKey(s, pubDID(t, f.oldPDS))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(op.RotationKeys, s.Op.RotationKeys) {
		t.Errorf("present key moved: %v", op.RotationKeys)
	}
	if _, err := BuildAddRotationKey(s, "garbage"); err == nil {
		t.Error("garbage key accepted")
	}
}
