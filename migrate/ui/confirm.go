package ui

import (
	"errors"

	"github.com/atmigrate/atmigrate/migrate/failure"
)

// confirmation is a question put to the user before something that cannot
// be taken back (a PLC operation). Every command asks it the same way.
type Confirmation struct {
	Question, Details string
	// What is what needs the answer ("the PLC operation"), for the error
	// when nobody can answer; IfNo is the hint when the answer is no.
	What, IfNo string
}

// ask puts c to ui unless yes: without a terminal it is bad input asking
// for --yes, and a no stops with nothing changed.
func (c Confirmation) Ask(ui Prompter, yes bool) error {
	if yes {
		return nil
	}
	ok, err := ui.Confirm(c.Question, c.Details)
	switch {
	case errors.Is(err, ErrNoTerminal):
		return failure.Input(nil, "pass {yes} to confirm without a terminal", "%s needs confirmation", c.What)
	case err != nil:
		return err
	case !ok:
		return failure.Input(nil, c.IfNo, "stopped before %s at your request", c.What)
	}
	return nil
}
