package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/atmigrate/atmigrate/migrate/ui"
)

// terminalUI answers the pipeline's questions at the terminal. Without a
// terminal on stdin it answers ui.ErrNoTerminal, and the pipeline
// pauses (exit 3) instead of waiting for input nobody can give.
type terminalUI struct{ out *output }

func newTerminalUI(out *output) ui.Prompter { return &terminalUI{out: out} }

func (u *terminalUI) PLCToken(email string) (string, error) {
	if !isTerminal(os.Stdin) {
		return "", ui.ErrNoTerminal
	}
	u.out.pause()
	defer u.out.resume()
	to := "the account's email address"
	if email != "" {
		to = email
	}
	return readLine(fmt.Sprintf("\nA PLC confirmation token was emailed to %s.\nEnter it here (or press Enter to stop and re-run later with --plc-token): ", to))
}

func (u *terminalUI) Confirm(question, details string) (bool, error) {
	if !isTerminal(os.Stdin) {
		return false, ui.ErrNoTerminal
	}
	u.out.pause()
	defer u.out.resume()
	fmt.Fprintf(os.Stderr, "\n%s\n", details)
	ans, err := readLine(question + " [y/N] ")
	if err != nil {
		return false, err
	}
	ans = strings.ToLower(ans)
	return ans == "y" || ans == "yes", nil
}
