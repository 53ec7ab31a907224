package main

import (
	"fmt"
	"io"

	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/verify"
)

// verifyView is what `verify` reports, built once from the report: the
// text lines and --json are two printings of it, so a script sees all a
// person does. OK decides the exit code in both.
type verifyView struct {
	DID      string      `json:"did"`
	OK       bool        `json:"ok"`      // no check failed (warnings and skips allowed)
	Summary  string      `json:"summary"` // "9 checks passed, 1 warning"
	Checks   []checkView `json:"checks"`
	Problems []string    `json:"problems"` // the failed checks, "name: detail"
	Warnings []string    `json:"warnings"` // the checks that warn, with their hint
	// Relays and AppView are what the network showed (--relay, --appview).
	Relays  []network.RelayView  `json:"relays,omitempty"`
	AppView *network.AppViewView `json:"appview,omitempty"`
}

// checkView is one check with its result in one word, as the text shows it.
type checkView struct {
	Result string `json:"result"` // "ok", "warn", "skip" or "fail"
	verify.Check
}

func newVerifyView(rep *verify.Report) verifyView {
	v := verifyView{DID: rep.DID, OK: rep.OK(), Summary: rep.Summary(), Checks: []checkView{}, Problems: []string{}, Warnings: []string{}, Relays: rep.Relays, AppView: rep.AppView}
	for _, ch := range rep.Checks {
		ch.Detail, ch.Hint = say(ch.Detail), say(ch.Hint)
		cv := checkView{Result: "ok", Check: ch}
		switch {
		case ch.Skipped:
			cv.Result = "skip"
		case !ch.OK:
			cv.Result = "fail"
			v.Problems = append(v.Problems, ch.Name+": "+ch.Detail)
		case ch.Warn:
			cv.Result = "warn"
			v.Warnings = append(v.Warnings, ch.Message())
		}
		v.Checks = append(v.Checks, cv)
	}
	return v
}

func (v verifyView) print(w io.Writer) {
	marks := map[string]string{"ok": "ok  ", "warn": "warn", "skip": "skip", "fail": "FAIL"}
	for _, ch := range v.Checks {
		fmt.Fprintf(w, "%s  %-18s %s\n", marks[ch.Result], ch.Name, ch.Detail)
	}
}
