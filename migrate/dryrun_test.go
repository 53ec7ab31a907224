package migrate

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// The dry run: everything a real run would check, found without writing
// anything anywhere, and every blocker a real run would hit named in the
// report.

// dryRun runs DryRun with o and fails the test on an error.
func dryRun(t *testing.T, o Options) *DryRunReport {
	t.Helper()
	r, err := DryRun(context.Background(), o)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	return r
}

// listed reports whether one of list contains s.
func listed(list []string, s string) bool {
	return slices.ContainsFunc(list, func(l string) bool { return strings.Contains(l, s) })
}

// wroteNothing asserts that nothing was written anywhere: no account or
// token on a PDS, no PLC operation, no state file.
func wroteNothing(t *testing.T, f *fullMove, o Options, plcOps int) {
	t.Helper()
	noAccountOn(t, f.b, f.did)
	untouched(t, f.fakeMove)
	if n := len(f.plc.Log(f.did)); n != plcOps {
		t.Errorf("%d PLC operations, want %d", n, plcOps)
	}
	for _, nsid := range []string{"com.atproto.identity.requestPlcOperationSignature", "com.atproto.server.deactivateAccount", "com.atproto.server.getServiceAuth"} {
		if n := f.a.Calls(nsid); n != 0 {
			t.Errorf("%d %s calls on the old PDS", n, nsid)
		}
	}
	if st, err := checkpoint.Load(o.StateDir); st != nil || err != nil {
		t.Errorf("the dry run left a state file: %+v %v", st, err)
	}
}

func TestDryRunClean(t *testing.T) {
	f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
	o := f.opts(t)
	ops := len(f.plc.Log(f.did))
	r := dryRun(t, o)
	if !r.OK() || !r.Checked {
		t.Fatalf("blockers %q (checked %v)", r.Blockers, r.Checked)
	}
	wroteNothing(t, f, o, ops)
	if r.DID != f.did || r.Handle != "alice.test" || r.NewHandle != "alice.test" || r.OldPDS != f.a.URL {
		t.Errorf("report names %s %s -> %s from %s", r.DID, r.Handle, r.NewHandle, r.OldPDS)
	}
	if !r.Login.OK || r.Login.Email != "alice@mail.test" || !r.Login.Active {
		t.Errorf("login %+v", r.Login)
	}
	if r.Server.DID != f.b.ServiceDID() || !r.Server.HandleAllowed || !r.Server.HandleFree || r.Server.AccountExists {
		t.Errorf("new PDS %+v", r.Server)
	}
	if r.Repo.Records != 10 || r.Repo.Commit != f.repo.CommitCID.String() || r.Blobs.Count != 2 || r.Blobs.Bytes <= 0 {
		t.Errorf("repo %+v, blobs %+v", r.Repo, r.Blobs)
	}
	if r.PLC.Method != "email-token" || !strings.Contains(r.PLC.Diff, f.b.PublicURL()) || !strings.Contains(r.PLC.Diff, identity.PlaceholderSigningKey) {
		t.Errorf("PLC %+v", r.PLC)
	}
	if r.Limits.BlobUploadLimit != 0 || !listed(r.Unknown, "blob upload limit") {
		t.Errorf("an unreported upload limit is not said to be unknown: %q", r.Unknown)
	}
	if r.RateLimits.Uploads != 2 || r.RateLimits.Days != 1 || r.EstimateSeconds <= 0 || r.Disk.Peak <= 0 {
		t.Errorf("rate limits %+v, estimate %v, disk %+v", r.RateLimits, r.EstimateSeconds, r.Disk)
	}
	if len(r.Plan) != len(stage.All) || !slices.ContainsFunc(r.Plan, func(s plan.Step) bool { return s.Stage == stage.Identity && s.Run }) {
		t.Errorf("plan %+v", r.Plan)
	}
	for _, s := range r.Plan {
		if s.Run && s.Reason != "" {
			t.Errorf("a first run's plan says %s: %q", s.Stage, s.Reason)
		}
	}
	if r.Verdict != VerdictSucceed || r.StopsAt != "" || len(r.CannotTell) > 0 {
		t.Errorf("verdict %s at %q (cannot tell: %q)", r.Verdict, r.StopsAt, r.CannotTell)
	}
	// The effects a real run would make, in its order, each where the
	// run would have made it.
	var stages []stage.Stage
	for _, e := range r.Effects {
		if e.Stage != "" {
			stages = append(stages, e.Stage)
		}
		if e.What == "" {
			t.Errorf("effect %+v says nothing", e)
		}
	}
	want := []stage.Stage{stage.ExportRepo, stage.CreateAccount, stage.ImportRepo, stage.Blobs, stage.Preferences, stage.VerifyNew,
		stage.CatchUp, stage.Identity, stage.Activate, stage.SignCommit, stage.DeactivateOld, stage.FinalCheck}
	if !slices.Equal(stages, want) {
		t.Errorf("effects by stage %v, want %v", stages, want)
	}
}

// The three verdicts: what a real run would meet decides, and a doubt
// that may stop it (a repo over the new PDS's default import limit) is
// neither a pass nor a stop.
func TestDryRunVerdicts(t *testing.T) {
	t.Run("should succeed", func(t *testing.T) {
		f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
		r := dryRun(t, f.withKey(t))
		if r.Verdict != VerdictSucceed || !r.OK() || len(r.CannotTell) > 0 {
			t.Errorf("verdict %s, blockers %q, cannot tell %q", r.Verdict, r.Blockers, r.CannotTell)
		}
	})
	t.Run("would stop at login", func(t *testing.T) {
		f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
		o := f.opts(t)
		o.OldPassword = "nope"
		r := dryRun(t, o)
		if r.Verdict != VerdictStop || r.StopsAt != stage.Login || !listed(r.Blockers, "refused the password") {
			t.Errorf("verdict %s at %q, blockers %q", r.Verdict, r.StopsAt, r.Blockers)
		}
	})
	t.Run("cannot tell: repo over the import limit", func(t *testing.T) {
		f := newFullMove(t, 40, 1, fakenet.PDSOptions{BlobUploadLimit: 4096})
		o := f.withKey(t)
		o.SkipOversizedBlobs = true
		ops := len(f.plc.Log(f.did))
		r := dryRun(t, o)
		if r.Verdict != VerdictCannotTell || !r.OK() || !listed(r.CannotTell, "PDS_MAX_REPO_IMPORT_SIZE") || !listed(r.Unknown, "PDS_MAX_REPO_IMPORT_SIZE") {
			t.Errorf("verdict %s, blockers %q, cannot tell %q", r.Verdict, r.Blockers, r.CannotTell)
		}
		wroteNothing(t, f, o, ops)
	})
}

// Every blocker of a real run is in the report, and nothing is written.
func TestDryRunBlockers(t *testing.T) {
	cases := []struct {
		name  string
		optsB fakenet.PDSOptions
		setup func(t *testing.T, f *fullMove, o *Options)
		want  string
		check func(t *testing.T, r *DryRunReport)
	}{
		{"wrong password", fakenet.PDSOptions{}, func(_ *testing.T, _ *fullMove, o *Options) { o.OldPassword = "nope" },
			"refused the password", nil},
		{"sign-in code needed", fakenet.PDSOptions{}, func(_ *testing.T, f *fullMove, _ *Options) {
			f.a.Modify(f.did, func(a *fakenet.Account) { a.AuthFactorToken = "112233" })
		}, "sign-in code", func(t *testing.T, r *DryRunReport) {
			if !r.Login.AuthFactorNeeded || r.Login.OK {
				t.Errorf("login %+v", r.Login)
			}
		}},
		{"app password", fakenet.PDSOptions{}, func(_ *testing.T, f *fullMove, o *Options) {
			f.a.Modify(f.did, func(a *fakenet.Account) {
				a.AppPasswords = []fakenet.AppPassword{{Name: "app", Password: "aaaa-bbbb-cccc-dddd"}}
			})
			o.OldPassword = "aaaa-bbbb-cccc-dddd"
		}, "accepted an app password", nil},
		{"invite code", fakenet.PDSOptions{InviteCodeRequired: true}, func(*testing.T, *fullMove, *Options) {},
			"requires an invite code", nil},
		{"handle not allowed", fakenet.PDSOptions{}, func(_ *testing.T, _ *fullMove, o *Options) { o.NewHandle = "alice.example" },
			"alice.example is not allowed", func(t *testing.T, r *DryRunReport) {
				if r.Server.HandleAllowed {
					t.Error("the handle is reported allowed")
				}
			}},
		{"handle taken", fakenet.PDSOptions{}, func(_ *testing.T, f *fullMove, _ *Options) {
			f.b.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: "theirs", Email: "x@mail.test"})
		}, "alice.test is taken", func(t *testing.T, r *DryRunReport) {
			if r.Server.HandleFree {
				t.Error("the handle is reported free")
			}
		}},
		{"no email", fakenet.PDSOptions{}, func(_ *testing.T, f *fullMove, _ *Options) {
			f.a.Modify(f.did, func(a *fakenet.Account) { a.Email = "" })
		}, "none we can read", nil},
		{"rotation key not listed", fakenet.PDSOptions{}, func(t *testing.T, _ *fullMove, o *Options) { o.RotationKey = fakenet.Key(t) },
			"'s current rotation keys", func(t *testing.T, r *DryRunReport) {
				if r.PLC.Method != "rotation-key" || r.PLC.RotationKeyValid == nil || *r.PLC.RotationKeyValid {
					t.Errorf("PLC %+v", r.PLC)
				}
			}},
		{"blob over the upload limit", fakenet.PDSOptions{BlobUploadLimit: 1024}, func(*testing.T, *fullMove, *Options) {},
			"larger than", func(t *testing.T, r *DryRunReport) {
				if r.Limits.BlobUploadLimit != 1024 || len(r.Limits.Oversized) == 0 {
					t.Errorf("limits %+v", r.Limits)
				}
			}},
		{"new PDS down", fakenet.PDSOptions{}, func(_ *testing.T, f *fullMove, _ *Options) { f.b.Down() },
			"does not answer as a PDS", func(t *testing.T, r *DryRunReport) {
				if r.Checked {
					t.Error("a refused plan reports the checks as made")
				}
			}},
		{"new PDS is the old one", fakenet.PDSOptions{}, func(_ *testing.T, f *fullMove, o *Options) { o.NewPDS = f.a.URL },
			"already lives on", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFullMove(t, 10, 2, c.optsB)
			o := f.opts(t)
			ops := len(f.plc.Log(f.did))
			c.setup(t, f, &o)
			r := dryRun(t, o)
			if r.OK() || !listed(r.Blockers, c.want) {
				t.Fatalf("blockers %q lack %q", r.Blockers, c.want)
			}
			if c.check != nil {
				c.check(t, r)
			}
			f.b.Up()
			wroteNothing(t, f, o, ops)
		})
	}
}

// What a real run would get past with a warning, or cannot know yet.
func TestDryRunWarnings(t *testing.T) {
	t.Run("blob over the limit, skipped on request", func(t *testing.T) {
		f := newFullMove(t, 10, 2, fakenet.PDSOptions{BlobUploadLimit: 1024})
		o := f.withKey(t)
		o.SkipOversizedBlobs = true
		r := dryRun(t, o)
		if !r.OK() || !listed(r.Warnings, "moving without blob") || !listed(r.Warnings, "{skip-oversized-blobs}") {
			t.Errorf("blockers %q, warnings %q", r.Blockers, r.Warnings)
		}
		if r.PLC.Method != "rotation-key" || r.PLC.RotationKeyValid == nil || !*r.PLC.RotationKeyValid {
			t.Errorf("PLC %+v", r.PLC)
		}
	})
	t.Run("handle check unanswered", func(t *testing.T) {
		f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
		f.b.Fail("com.atproto.identity.resolveHandle", 100, 500, "InternalServerError", "Internal Server Error")
		r := dryRun(t, f.opts(t))
		if !r.OK() || !listed(r.Unknown, "whether the handle alice.test is free") {
			t.Errorf("blockers %q, unknown %q", r.Blockers, r.Unknown)
		}
	})
	t.Run("paused run", func(t *testing.T) {
		f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
		o := f.opts(t)
		paused(t, f.fakeMove, o)
		r := dryRun(t, o)
		if !r.OK() || !r.Server.AccountExists || !listed(r.Warnings, "already exists on") {
			t.Errorf("blockers %q, warnings %q, server %+v", r.Blockers, r.Warnings, r.Server)
		}
		for _, s := range r.Plan {
			if s.Stage == stage.ExportRepo && !strings.Contains(s.Reason, "done by an earlier run") {
				t.Errorf("export-repo step %+v does not say an earlier run did it", s)
			}
		}
	})
	t.Run("after the switch", func(t *testing.T) {
		f := newFakeMove(t)
		f.switchToB(t)
		f.a.Down()
		r := dryRun(t, f.opts(t))
		if r.Checked || !listed(r.Warnings, "already points at") || !listed(r.Warnings, "did not answer") {
			t.Errorf("checked %v, warnings %q", r.Checked, r.Warnings)
		}
	})
	t.Run("complete", func(t *testing.T) {
		f := newFullMove(t, 4, 1, fakenet.PDSOptions{})
		o := f.withKey(t)
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		r := dryRun(t, o)
		if !r.OK() || !listed(r.Warnings, "this migration is complete") {
			t.Errorf("blockers %q, warnings %q", r.Blockers, r.Warnings)
		}
	})
}

// A DID the directory does not know stops the dry run itself, as bad input.
func TestDryRunUnknownDID(t *testing.T) {
	f := newFakeMove(t)
	o := f.opts(t)
	o.Account = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	_, err := DryRun(context.Background(), o)
	wantInput(t, err, "does not know")
	wantHint(t, err, "{plc-url}")
}

// A record outside the atproto data model (a float) that may hold a blob
// reference (it names a mimeType) is moved but cannot be read for blob
// references: the run says so, naming how many.
func TestDryRunWarnsOfUndecodedRecords(t *testing.T) {
	f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
	r := repotest.New(f.did, f.a.SigningKeyFor(f.did))
	if err := r.AddPosts(5, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.PutRecord("com.example.odd/1", map[string]any{"$type": "com.example.odd", "f": 1.5, "mimeType": "image/png"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	f.a.Modify(f.did, func(a *fakenet.Account) {
		a.RepoCAR, a.CommitCID, a.Rev = r.CAR(), r.CommitCID.String(), r.Rev
		for c, data := range r.Blobs {
			a.Blobs[c] = fakenet.Blob{Data: data, MimeType: "image/jpeg"}
		}
	})
	rep := dryRun(t, f.opts(t))
	if rep.Repo.Records != 6 || !listed(rep.Warnings, "1 record in the repo could not be decoded") {
		t.Errorf("records %d, warnings %q", rep.Repo.Records, rep.Warnings)
	}
}
