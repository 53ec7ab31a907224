package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The planner's table: every mode against every situation a run can find,
// with the stages it must run. It needs no server: decide is pure.

type planMode struct {
	name string
	inv  Invocation
}

var planModes = []planMode{
	{"DID, email token", Invocation{Source: SourcePDS, Signer: SignEmailToken}},
	{"handle, email token", Invocation{Source: SourcePDS, Signer: SignEmailToken, ByHandle: true}},
	{"DID, user rotation key", Invocation{Source: SourcePDS, Signer: SignRotationKey}},
	{"handle, user rotation key", Invocation{Source: SourcePDS, Signer: SignRotationKey, ByHandle: true}},
	{"batch, admin rotation key", Invocation{Source: SourcePDS, Signer: SignRotationKey, Batch: true, OldPDSGiven: true}},
	{"batch, email token", Invocation{Source: SourcePDS, Signer: SignEmailToken, Batch: true, OldPDSGiven: true}},
	{"did:web", Invocation{Source: SourcePDS, Signer: SignDIDWeb}},
	{"restore from backup", Invocation{Source: SourceBackup, Signer: SignRotationKey}},
}

const (
	oldURL = "https://old.example"
	newURL = "https://new.example"
)

type planSituation struct {
	name  string
	world func(backup bool) World
	state func() *checkpoint.State
}

func srv(url, did string, up, has, active bool) Server {
	s := Server{Known: true, URL: url, Reachable: up, HasAccount: has, Active: active}
	if up {
		s.ServiceDID = did
	}
	if has && !active {
		s.Status = "deactivated"
	}
	return s
}

// oldServer is the old PDS as a situation finds it; a restore from backup
// is the case where it is gone.
func oldServer(backup, active bool) Server {
	if backup {
		return srv(oldURL, "", false, false, false)
	}
	return srv(oldURL, "did:web:old.example", true, true, active)
}

func newServer(has, active bool) Server {
	return srv(newURL, "did:web:new.example", true, has, active)
}

func stateWith(f func(*checkpoint.State)) func() *checkpoint.State {
	return func() *checkpoint.State {
		st := &checkpoint.State{DID: "did:plc:abc", NewPDS: newURL, OldPDS: oldURL, Stages: map[stage.Stage]*checkpoint.StageStatus{}}
		f(st)
		return st
	}
}

var planSituations = []planSituation{
	{"nothing done",
		func(b bool) World {
			return World{Endpoint: oldURL, Old: oldServer(b, true), New: newServer(false, false)}
		},
		stateWith(func(st *checkpoint.State) { st.OldPDS = "" })},
	{"account created",
		func(b bool) World {
			return World{Endpoint: oldURL, Old: oldServer(b, true), New: newServer(true, false)}
		},
		stateWith(func(st *checkpoint.State) { st.AccountCreated = true })},
	{"data in",
		func(b bool) World {
			return World{Endpoint: oldURL, Old: oldServer(b, true), New: newServer(true, false)}
		},
		stateWith(func(st *checkpoint.State) {
			st.AccountCreated = true
			for _, s := range []stage.Stage{stage.Login, stage.Preflight, stage.ExportRepo, stage.CreateAccount, stage.ImportRepo, stage.Blobs, stage.Preferences, stage.VerifyNew} {
				st.Stage(s).Done = true
			}
		})},
	{"DID switched, new account inactive",
		func(b bool) World {
			return World{Endpoint: newURL, Switched: true, OurOpApplied: true, Old: oldServer(b, true), New: newServer(true, false)}
		},
		stateWith(func(st *checkpoint.State) { st.AccountCreated, st.PLC.OpCID = true, "bafyop" })},
	{"switched, old PDS down",
		func(b bool) World {
			return World{Endpoint: newURL, Switched: true, OurOpApplied: true, Old: srv(oldURL, "", false, false, false), New: newServer(true, false)}
		},
		stateWith(func(st *checkpoint.State) { st.AccountCreated, st.PLC.OpCID = true, "bafyop" })},
	{"switched, new account active",
		func(b bool) World {
			return World{Endpoint: newURL, Switched: true, OurOpApplied: true, Old: oldServer(b, true), New: newServer(true, true)}
		},
		stateWith(func(st *checkpoint.State) { st.AccountCreated, st.PLC.OpCID = true, "bafyop" })},
	{"old deactivated",
		func(b bool) World {
			return World{Endpoint: newURL, Switched: true, OurOpApplied: true, Old: oldServer(b, false), New: newServer(true, true)}
		},
		stateWith(func(st *checkpoint.State) { st.AccountCreated, st.PLC.OpCID = true, "bafyop" })},
	{"done",
		func(b bool) World {
			return World{Endpoint: newURL, Switched: true, OurOpApplied: true, Old: oldServer(b, false), New: newServer(true, true)}
		},
		stateWith(func(st *checkpoint.State) { st.AccountCreated, st.PLC.OpCID, st.Completed = true, "bafyop", true })},
}

var allDataAndIdentity = []stage.Stage{stage.Preflight, stage.ExportRepo, stage.CreateAccount, stage.ImportRepo,
	stage.Blobs, stage.Preferences, stage.VerifyNew, stage.CatchUp, stage.Identity}

// expectedPlan is the table's right-hand side: the stages a run must do,
// and whether it ends pending (exit 1, finish later) or done.
type expectedPlan struct {
	run     []stage.Stage
	pending bool
	done    bool
}

func expect(mode planMode, situation string) expectedPlan {
	backup := mode.inv.Source == SourceBackup
	full := append(append([]stage.Stage{stage.Login}, allDataAndIdentity...), stage.Activate)
	if !backup {
		full = append(full, stage.DeactivateOld)
	}
	full = append(full, stage.FinalCheck)
	switch situation {
	case "nothing done", "account created", "data in":
		return expectedPlan{run: full}
	case "DID switched, new account inactive":
		if backup {
			return expectedPlan{run: []stage.Stage{stage.Activate, stage.FinalCheck}}
		}
		return expectedPlan{run: []stage.Stage{stage.Login, stage.Activate, stage.DeactivateOld, stage.FinalCheck}}
	case "switched, old PDS down":
		if backup {
			return expectedPlan{run: []stage.Stage{stage.Activate, stage.FinalCheck}}
		}
		return expectedPlan{run: []stage.Stage{stage.Activate, stage.FinalCheck}, pending: true}
	case "switched, new account active":
		// activateAccount is called even on an account that reads as
		// active: some PDSes create a migrated account active, and the
		// call is what announces it.
		if backup {
			return expectedPlan{run: []stage.Stage{stage.Activate, stage.FinalCheck}}
		}
		return expectedPlan{run: []stage.Stage{stage.Login, stage.Activate, stage.DeactivateOld, stage.FinalCheck}}
	case "old deactivated":
		return expectedPlan{run: []stage.Stage{stage.Activate, stage.FinalCheck}}
	case "done":
		return expectedPlan{done: true}
	}
	panic("unknown situation " + situation)
}

// withSignCommit is e with the sign-commit stage after each activation:
// the activated account's repo gets a commit signed by the new PDS.
func withSignCommit(e expectedPlan) expectedPlan {
	var run []stage.Stage
	for _, s := range e.run {
		run = append(run, s)
		if s == stage.Activate {
			run = append(run, stage.SignCommit)
		}
	}
	e.run = run
	return e
}

// With a relay or an AppView to ask, every plan ends with the network
// stage, and a complete migration is not done: it re-checks the signed
// commit and the network's view (the repair), and nothing else.
func TestPlanNetwork(t *testing.T) {
	inv := Invocation{Source: SourcePDS, Signer: SignEmailToken, Network: true}
	for _, sit := range planSituations {
		p := Decide(inv, sit.world(false), sit.state())
		got := p.Running()
		if len(got) == 0 || got[len(got)-1] != stage.Network {
			t.Errorf("%s: runs %v, want the network stage last", sit.name, got)
		}
		if sit.name == "done" {
			if want := []stage.Stage{stage.SignCommit, stage.Network}; !slices.Equal(got, want) || p.Done {
				t.Errorf("done: runs %v (done %v), want %v and not done", got, p.Done, want)
			}
			if r := p.Step(stage.Network).Reason; !strings.Contains(r, "already migrated") {
				t.Errorf("done: the network step says %q", r)
			}
		}
	}
	// Without one, the stage is skipped and says how to turn it on.
	p := Decide(Invocation{Source: SourcePDS, Signer: SignEmailToken}, planSituations[0].world(false), planSituations[0].state())
	if st := p.Step(stage.Network); st.Run || !strings.Contains(st.Reason, "{relay}") {
		t.Errorf("no relay: network step %+v", st)
	}
}

func TestPlanTable(t *testing.T) {
	for _, mode := range planModes {
		for _, sit := range planSituations {
			t.Run(mode.name+"/"+sit.name, func(t *testing.T) {
				w := sit.world(mode.inv.Source == SourceBackup)
				p := Decide(mode.inv, w, sit.state())
				want := withSignCommit(expect(mode, sit.name))
				if p.Refusal != nil {
					t.Fatalf("refused: %v", p.Refusal)
				}
				if got := p.Running(); !slices.Equal(got, want.run) {
					t.Errorf("runs %v\n want %v", got, want.run)
				}
				if (p.Pending != nil) != want.pending {
					t.Errorf("pending = %v, want pending %v", p.Pending, want.pending)
				}
				if p.Done != want.done {
					t.Errorf("done = %v, want %v", p.Done, want.done)
				}
				// Every stage is accounted for, and a skipped one says why.
				if len(p.Steps) != len(stage.All) && !p.Done {
					t.Errorf("%d steps for %d stages: %+v", len(p.Steps), len(stage.All), p.Steps)
				}
				for _, s := range p.Steps {
					if !s.Run && s.Reason == "" {
						t.Errorf("%s skipped without a reason", s.Stage)
					}
				}
			})
		}
	}
}

// The planner never asks how the account was named or whether it runs in
// a batch: the same world gives the same plan.
func TestPlanIgnoresHowTheAccountWasNamed(t *testing.T) {
	for _, sit := range planSituations {
		a := Decide(Invocation{Source: SourcePDS, Signer: SignRotationKey}, sit.world(false), sit.state())
		b := Decide(Invocation{Source: SourcePDS, Signer: SignRotationKey, ByHandle: true, Batch: true}, sit.world(false), sit.state())
		if fmt.Sprint(a.Steps) != fmt.Sprint(b.Steps) {
			t.Errorf("%s: by DID %v, by handle in a batch %v", sit.name, a.Steps, b.Steps)
		}
	}
}

func TestPlanRefusals(t *testing.T) {
	rk := Invocation{Source: SourcePDS, Signer: SignRotationKey}
	fresh := stateWith(func(st *checkpoint.State) { st.OldPDS = "" })
	bound := stateWith(func(st *checkpoint.State) { st.AccountCreated = true })
	cases := []struct {
		name   string
		inv    Invocation
		world  World
		state  func() *checkpoint.State
		input  bool // bad input (exit 2) rather than transient (exit 1)
		reason string
	}{
		{"new PDS is the old one, by service DID", rk,
			World{Endpoint: oldURL, Old: oldServer(false, true), New: srv("https://old-alias.example", "did:web:old.example", true, true, true)},
			fresh, true, "already lives on"},
		{"DID already points at the new PDS, nothing known of an old one", rk,
			World{Endpoint: newURL, Switched: true, New: newServer(true, true)},
			fresh, true, "already lives on"},
		{"mistyped new PDS, nothing written", rk,
			World{Endpoint: oldURL, Old: oldServer(false, true), New: Server{Known: true, URL: "https://typo.example"}},
			fresh, true, "does not answer as a PDS"},
		{"new PDS down after the account was created there", rk,
			World{Endpoint: oldURL, Old: oldServer(false, true), New: Server{Known: true, URL: newURL}},
			bound, false, "did not answer"},
		{"old PDS down before the switch", rk,
			World{Endpoint: oldURL, Old: srv(oldURL, "", false, false, false), New: newServer(false, false)},
			fresh, false, "did not answer"},
		{"our operation applied, then the DID moved elsewhere", rk,
			World{Endpoint: "https://third.example", OurOpApplied: true, Old: oldServer(false, false), New: newServer(true, true)},
			stateWith(func(st *checkpoint.State) { st.PLC.OpCID = "bafyop" }), true, "now points at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Decide(c.inv, c.world, c.state())
			if p.Refusal == nil {
				t.Fatalf("not refused; plan %v", p.Running())
			}
			var ie *failure.InputError
			if got := errors.As(p.Refusal, &ie); got != c.input {
				t.Errorf("bad input = %v, want %v (%v)", got, c.input, p.Refusal)
			}
			if !strings.Contains(p.Refusal.Error(), c.reason) {
				t.Errorf("refusal %q lacks %q", p.Refusal, c.reason)
			}
		})
	}
}

func TestPlanNoDeactivateOld(t *testing.T) {
	inv := Invocation{Source: SourcePDS, Signer: SignEmailToken, NoDeactivateOld: true}
	for _, sit := range planSituations {
		p := Decide(inv, sit.world(false), sit.state())
		if p.Runs(stage.DeactivateOld) {
			t.Errorf("%s: deactivates the old account despite --no-deactivate-old", sit.name)
		}
		if p.Pending != nil {
			t.Errorf("%s: pending %v: nothing is left to do with --no-deactivate-old", sit.name, p.Pending)
		}
	}
	// The old PDS being down no longer matters then.
	down := planSituations[4]
	p := Decide(inv, down.world(false), down.state())
	if got := p.Running(); !slices.Equal(got, []stage.Stage{stage.Activate, stage.SignCommit, stage.FinalCheck}) {
		t.Errorf("old PDS down with --no-deactivate-old: runs %v", got)
	}
}

// An old PDS whose getRepoStatus says nothing either way (a 500) does not
// make the planner believe the old account is already inactive: the
// deactivation is planned, and the stage asks again with the session.
func TestPlanOldAccountUnknown(t *testing.T) {
	old := oldServer(false, true)
	old.HasAccount, old.Active, old.AccountErr = false, false, "500 InternalServerError"
	w := World{Endpoint: newURL, Switched: true, OurOpApplied: true, Old: old, New: newServer(true, true)}
	p := Decide(Invocation{Source: SourcePDS, Signer: SignRotationKey}, w, stateWith(func(st *checkpoint.State) { st.AccountCreated, st.PLC.OpCID = true, "bafyop" })())
	if !p.Runs(stage.DeactivateOld) || !p.Runs(stage.Login) {
		t.Fatalf("runs %v: want the login and the deactivation", p.Running())
	}
}
