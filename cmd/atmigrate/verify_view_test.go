package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/verify"
)

// --json carries every check with its result word, the summary, the
// problems and the warnings: all the text and stderr say.
func TestVerifyView(t *testing.T) {
	rep := &verify.Report{DID: "did:plc:abc", Checks: []verify.Check{
		{Name: "records", OK: true, Detail: "30 records, every CID equal"},
		{Name: "blobs-listed", OK: true, Warn: true, Detail: "1 extra blob(s) on the new PDS", Hint: "nothing is missing"},
		{Name: "preferences", Skipped: true, Detail: "no session on the old PDS"},
		{Name: "blobs", Detail: "missing on the new PDS: bafkA"},
	}}
	v := newVerifyView(rep)
	if v.OK || v.Summary != rep.Summary() || len(v.Problems) != 1 || v.Problems[0] != "blobs: missing on the new PDS: bafkA" ||
		len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "nothing is missing") {
		t.Errorf("view %+v", v)
	}
	var text bytes.Buffer
	v.print(&text)
	for _, want := range []string{"ok    records", "warn  blobs-listed", "skip  preferences", "FAIL  blobs"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		OK       bool   `json:"ok"`
		Summary  string `json:"summary"`
		Problems []string
		Checks   []struct {
			Result, Name, Hint string
			OK, Warn, Skipped  bool
		}
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	results := []string{}
	for _, c := range back.Checks {
		results = append(results, c.Result)
	}
	if back.OK || back.Summary == "" || len(back.Problems) != 1 || strings.Join(results, ",") != "ok,warn,skip,fail" ||
		!back.Checks[1].Warn || back.Checks[1].Hint == "" || !back.Checks[2].Skipped {
		t.Errorf("JSON %s", b)
	}

	if v := newVerifyView(&verify.Report{DID: "did:plc:abc"}); !v.OK || v.Problems == nil || v.Warnings == nil {
		t.Errorf("an empty report: %+v (want ok, and empty lists rather than null)", v)
	}
}

// verify takes a handle (resolved through --old-pds, then --new-pds),
// passes the 2FA code to the old PDS's login, and exits the same with and
// without --json.
func TestVerifyCommand(t *testing.T) {
	plc := fakenet.NewPLC(t)
	pdsA := fakenet.NewPDS(t, plc, fakenet.PDSOptions{})
	did := pdsA.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: "hunter2", AuthFactorToken: "424242"})
	args := []string{"verify", "--account", "alice.test", "--new-pds", pdsA.URL, "--plc-url", plc.URL}

	text := atmigrate(t, nil, args...)
	js := atmigrate(t, nil, append(args, "--json")...)
	var v verifyView
	if err := json.Unmarshal([]byte(js.stdout), &v); err != nil || v.DID != did || len(v.Checks) == 0 {
		t.Fatalf("verify --json of a handle: want the report on %s: %v\n%s", did, err, js)
	}
	t.Logf("verify of a handle:\n%s", text)
	if text.code != js.code || (text.code == 0) != v.OK {
		t.Errorf("exit %d without --json, %d with, ok %v", text.code, js.code, v.OK)
	}
	for _, c := range v.Checks {
		if mark := map[string]string{"ok": "ok  ", "warn": "warn", "skip": "skip", "fail": "FAIL"}[c.Result]; !strings.Contains(text.stdout, mark+"  "+c.Name) {
			t.Errorf("check %s (%s) is not in the text:\n%s", c.Name, c.Result, text.stdout)
		}
	}

	login := append(args, "--old-pds", pdsA.URL, "--old-password", "hunter2")
	if r := atmigrate(t, nil, login...); r.code != exitUsage || !strings.Contains(r.stderr, "run again with --auth-factor-token") {
		t.Errorf("old PDS login without the code: want exit 2 naming --auth-factor-token\n%s", r)
	}
	if r := atmigrate(t, nil, append(login, "--auth-factor-token", "424242")...); r.code == exitUsage {
		t.Errorf("old PDS login with the code: refused\n%s", r)
	}
	newLogin := append(args, "--new-password", "hunter2")
	if r := atmigrate(t, nil, newLogin...); r.code != exitUsage || !strings.Contains(r.stderr, "--new-auth-factor-token") {
		t.Errorf("new PDS login without the code: want exit 2 naming --new-auth-factor-token\n%s", r)
	}
	if r := atmigrate(t, nil, append(newLogin, "--new-auth-factor-token", "424242")...); r.code == exitUsage {
		t.Errorf("new PDS login with the code: refused\n%s", r)
	}
}
