package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// stateOf is a migration stopped in stage at with stop and lastError, the
// stages before it done.
func stateOf(at stage.Stage, stop checkpoint.Stop, lastError string) *checkpoint.State {
	st := &checkpoint.State{DID: "did:plc:abc", Handle: "alice.test", OldPDS: "https://a.example", NewPDS: "https://b.example",
		NewHandle: "alice.test", Updated: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Stages: map[stage.Stage]*checkpoint.StageStatus{},
		LastStop: stop, LastError: lastError}
	for _, s := range stage.All {
		if s == at {
			break
		}
		st.Stages[s] = &checkpoint.StageStatus{Done: true, Note: string(s) + " done"}
	}
	if lastError != "" {
		st.LastErrorStage = at
	}
	if at == "" {
		st.Completed = true
	}
	return st
}

// The view says where a migration stands from LastStop, and from the
// words of the time for state files written before it.
func TestStatusView(t *testing.T) {
	const tokenWait = "waiting for the PLC email token (--plc-token)"
	const didwebWait = "waiting for the did:web document at https://alice.example/.well-known/did.json to point at https://b.example"
	for _, c := range []struct {
		name    string
		st      *checkpoint.State
		pid     int
		running bool
		status  string
		summary string
	}{
		{"completed", stateOf("", checkpoint.StopCompleted, ""), 0, false, "migrated", "migrated"},
		{"completed, old file", stateOf("", "", ""), 0, false, "migrated", "migrated"},
		{"interrupted", stateOf(stage.Blobs, checkpoint.StopInterrupted, "interrupted"), 0, false, "interrupted", "re-run the same command"},
		{"interrupted, old file", stateOf(stage.Blobs, "", "interrupted"), 0, false, "interrupted", "re-run the same command"},
		{"paused for the token", stateOf(stage.Identity, checkpoint.StopPausedToken, tokenWait), 0, false, "paused-token", "paused: " + tokenWait},
		{"paused for the token, old file", stateOf(stage.Identity, "", tokenWait), 0, false, "paused-token", "paused: " + tokenWait},
		{"paused for did:web", stateOf(stage.Identity, checkpoint.StopPausedDIDWeb, didwebWait), 0, false, "paused-didweb", "paused: " + didwebWait},
		{"paused for did:web, old file", stateOf(stage.Identity, "", didwebWait), 0, false, "paused-didweb", "paused: " + didwebWait},
		{"failed", stateOf(stage.Blobs, checkpoint.StopFailed, "blobs: 503"), 0, false, "failed", "stopped with an error (re-run"},
		{"failed, old file", stateOf(stage.Blobs, "", "blobs: 503"), 0, false, "failed", "stopped with an error (re-run"},
		// Words that once meant a pause do not make a new file's failure one.
		{"failed with pause-like words", stateOf(stage.Blobs, checkpoint.StopFailed, "waiting for godot"), 0, false, "failed", "stopped with an error"},
		{"failed for good", stateOf(stage.Login, checkpoint.StopFailedPermanent, "refused the password"), 0, false, "failed-permanent", "cannot fix alone"},
		{"killed before it said", stateOf(stage.ImportRepo, "", ""), 0, false, "unknown", "in progress or interrupted"},
		{"running", stateOf(stage.ImportRepo, checkpoint.StopPausedToken, tokenWait), 4242, true, "running", "running now (pid 4242)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newStatusView("/state", c.st, c.pid, c.running)
			if v.Status != c.status || !strings.Contains(v.Summary, c.summary) {
				t.Errorf("status %q, summary %q; want %q, containing %q", v.Status, v.Summary, c.status, c.summary)
			}
			var text bytes.Buffer
			v.print(&text)
			if !strings.Contains(text.String(), "status    "+v.Summary+"\n") {
				t.Errorf("the text does not say the summary:\n%s", text.String())
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back["status"] != c.status || back["summary"] != v.Summary || back["did"] != "did:plc:abc" {
				t.Errorf("the JSON does not carry the same: %s", b)
			}
		})
	}
}

// The stages and the counts read the same in the text and the JSON.
func TestStatusViewStagesAndCounts(t *testing.T) {
	st := stateOf(stage.Blobs, checkpoint.StopFailedPermanent, "2 blob(s) are missing on the new PDS")
	st.Repo = checkpoint.RepoInfo{Records: 541, Bytes: 120_000, Rev: "3n36"}
	st.Blobs = checkpoint.BlobsInfo{Total: 41, TotalBytes: 2_900_000, Uploaded: 39, Missing: []string{"bafkA", "bafkB"}}
	v := newStatusView("/state", st, 0, false)
	var text bytes.Buffer
	v.print(&text)
	for _, want := range []string{"[x]  5 import-repo", "[!]  6 blobs", "[ ] 10 identity", "541 records", "blobs     41 (2.9 MB), 39 uploaded, 2 missing", "missing bafkB", "error     blobs: 2 blob(s)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if v.Stages[4].State != "done" || v.Stages[5].State != "failed" || v.Stages[9].State != "pending" {
		t.Errorf("stage states %+v", v.Stages)
	}
	if v.LastError == nil || v.LastError.Stage != stage.Blobs || len(v.Blobs.Missing) != 2 || v.Repo.Records != 541 {
		t.Errorf("view %+v", v)
	}
}

// status --account takes a DID (a handle is resolved, which needs the
// network) and reads its default state dir; --json is the view.
func TestStatusCommand(t *testing.T) {
	home := t.TempDir()
	st := stateOf(stage.Identity, checkpoint.StopPausedToken, "waiting for the PLC email token (--plc-token)")
	dir := filepath.Join(home, "atmigrate", st.DID)
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"XDG_STATE_HOME": home}
	r := atmigrate(t, env, "status", "--account", st.DID, "--json")
	var v statusView
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v.Status != "paused-token" || v.StateDir != dir {
		t.Fatalf("status --account DID --json: want the paused view of %s\n%s", dir, r)
	}
	r = atmigrate(t, env, "status", "--state-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "status    paused: waiting for the PLC email token") {
		t.Errorf("status --state-dir: %s", r)
	}
	if r := atmigrate(t, env, "status", "--state-dir", filepath.Join(home, "none")); r.code != exitUsage {
		t.Errorf("status of a dir without state: want exit 2\n%s", r)
	}
	// A handle that cannot resolve (.invalid never does, without asking
	// the network) is bad input with a hint that fits a local command.
	for _, cmd := range []string{"status", "watch"} {
		r := atmigrate(t, env, cmd, "--account", "nobody.invalid")
		if r.code != exitUsage || !strings.Contains(r.stderr, "hint: pass --account with the DID, or --state-dir") {
			t.Errorf("%s --account nobody.invalid: want exit 2 and a hint\n%s", cmd, r)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "lock")); err == nil {
		t.Error("status created a lock file")
	}
}
