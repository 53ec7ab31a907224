// Command atmigrate moves an AT Protocol account from one PDS to another:
// streaming, concurrent, checkpointed and verified. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
)

// Exit codes, the contract with scripts.
const (
	exitOK          = 0
	exitFailed      = 1   // state kept; a re-run resumes
	exitUsage       = 2   // bad usage or input; nothing irreversible done
	exitPaused      = 3   // waiting for the PLC email token
	exitChanged     = 1   // watch: the DID or an account changed after the migration
	exitUnknown     = 4   // watch --once: the check could not be made
	exitInterrupted = 130 // Ctrl-C or SIGTERM
)

func main() {
	version = resolveVersion(version)
	servers.Version = version
	ctx, stop := signalContext()
	defer stop()
	app := newApp()
	err := app.RunContext(ctx, os.Args)
	os.Exit(exitCode(ctx, err))
}

func newApp() *cli.App {
	cli.VersionPrinter = printVersion // the one urfave/cli has: a global
	app := &cli.App{
		Name:    "atmigrate",
		Usage:   "move an AT Protocol (Bluesky) account to another PDS, safely and resumably",
		Version: version,
		Commands: []*cli.Command{
			cmdMigrate,
			cmdStatus,
			cmdVerify,
			cmdBatch,
			cmdExport,
			cmdPLC,
			cmdWatch,
		},
		HideHelpCommand: false,
		OnUsageError:    onUsageError,
		ExitErrHandler:  func(*cli.Context, error) {}, // main reports errors and picks the exit code
		Action:          groupAction(cli.ShowAppHelp),
	}
	setupCommands(app.Commands)
	return app
}

// signalContext cancels on the first SIGINT or SIGTERM, so every request in
// flight stops and the state is saved; a second signal kills at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		<-ch
		fmt.Fprintln(os.Stderr, "atmigrate: interrupted twice, exiting now")
		os.Exit(exitInterrupted)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// exitCode prints err for the user (error, then hint) and maps it to the
// exit code; this is the only place that decides either.
func exitCode(ctx context.Context, err error) int {
	if err == nil || errors.Is(err, failure.ErrAlreadyMigrated) {
		return exitOK
	}
	var quiet silentExit
	if errors.As(err, &quiet) {
		return quiet.ExitCode()
	}
	var code exitCoder
	if errors.As(err, &code) {
		// urfave/cli's own exits ("No help topic for 'x'", exit 3) are
		// usage errors: never exit 3, which tells a script that a
		// migration waits for its token.
		msg := strings.TrimSpace(err.Error())
		if topic, ok := strings.CutPrefix(msg, "No help topic for "); ok {
			msg = "unknown command " + topic
		}
		printError(usageError{msg: msg, hint: "see `atmigrate --help` for the commands"})
		return exitUsage
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "atmigrate: interrupted; the state is saved")
		fmt.Fprintln(os.Stderr, "atmigrate: hint: run the same command again to continue")
		return exitInterrupted
	}
	if errors.Is(err, failure.ErrPaused) {
		return exitPaused
	}
	printError(err)
	var ie *failure.InputError
	var ue usageError
	if errors.As(err, &ie) || errors.As(err, &ue) {
		return exitUsage
	}
	if isCLIUsageError(err) {
		return exitUsage
	}
	return exitFailed
}

type exitCoder interface{ ExitCode() int }

// silentExit ends the program with a code after the command already
// printed what the user needs.
type silentExit int

func (e silentExit) Error() string { return fmt.Sprintf("exit %d", int(e)) }
func (e silentExit) ExitCode() int { return int(e) }

// usageError is bad command-line usage.
type usageError struct{ msg, hint string }

func (e usageError) Error() string { return e.msg }

func printError(err error) {
	fmt.Fprintf(os.Stderr, "atmigrate: error: %s\n", say(err.Error()))
	hint := say(failure.Hint(err))
	var ue usageError
	if errors.As(err, &ue) {
		hint = ue.hint
		if hint == "" {
			hint = "see `atmigrate --help` and `atmigrate <command> --help`"
		}
	}
	if hint != "" {
		fmt.Fprintf(os.Stderr, "atmigrate: hint: %s\n", hint)
	}
}

// onUsageError marks flag parsing failures as usage errors (exit 2).
func onUsageError(c *cli.Context, err error, _ bool) error {
	return usageError{msg: err.Error(), hint: "see `" + commandPath(c) + " --help`"}
}

func isCLIUsageError(err error) bool {
	// Missing required flags come back as plain errors from urfave/cli.
	return strings.HasPrefix(err.Error(), "Required flag") || strings.HasPrefix(err.Error(), "flag provided but not defined")
}
