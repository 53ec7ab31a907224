package verify

import (
	"fmt"
	"strings"

	"github.com/atmigrate/atmigrate/migrate/network"
)

// Check is one named verification, in one of four states: passed (OK),
// failed (neither OK nor Skipped), skipped (it could not run; Detail says
// why), or passed with a warning (OK and Warn): the two sides differ in a
// way that loses nothing, which a report must still say rather than count
// as a pass. A warning keeps OK true so that it never fails a migration or
// `verify`, and so that readers of the JSON who know only "ok" still read
// it as no failure.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Warn    bool   `json:"warn,omitempty"`
	Detail  string `json:"detail"`
	// Hint, on a warning, says what it means and what (if anything) to do.
	Hint string `json:"hint,omitempty"`
}

// Message is the check on one line: its name, its detail and, for a
// warning, its hint.
func (c Check) Message() string {
	msg := c.Name + ": " + c.Detail
	if c.Hint != "" {
		msg += "; " + c.Hint
	}
	return msg
}

// Report is the outcome of Run.
type Report struct {
	DID    string  `json:"did"`
	Checks []Check `json:"checks"`
	// Relays and AppView are the network's views behind the relay and
	// appview checks, for readers of the JSON.
	Relays  []network.RelayView  `json:"relays,omitempty"`
	AppView *network.AppViewView `json:"appview,omitempty"`
}

// OK reports whether every check that ran passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			return false
		}
	}
	return true
}

// Problems lists the failed checks, one per line.
func (r *Report) Problems() string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return strings.Join(out, "\n  ")
}

// Warnings lists the checks that passed with a warning.
func (r *Report) Warnings() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Warn && c.OK && !c.Skipped {
			out = append(out, c)
		}
	}
	return out
}

// Summary is a one-line account of what was checked. A check that warns
// is counted as a warning, not as passed: the summary never says every
// check passed while the two sides differ.
func (r *Report) Summary() string {
	ok, warned, skipped := 0, 0, 0
	for _, c := range r.Checks {
		switch {
		case c.Skipped:
			skipped++
		case c.OK && c.Warn:
			warned++
		case c.OK:
			ok++
		}
	}
	s := fmt.Sprintf("%d checks passed", ok)
	if warned > 0 {
		s += fmt.Sprintf(", %d warning%s", warned, plural(warned))
	}
	if skipped > 0 {
		s += fmt.Sprintf(", %d skipped", skipped)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (r *Report) add(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// warn records a check that passed with a warning; hint says what it means.
func (r *Report) warn(name, hint, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Warn: true, Detail: fmt.Sprintf(format, args...), Hint: hint})
}

func (r *Report) skip(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Skipped: true, Detail: fmt.Sprintf(format, args...)})
}
