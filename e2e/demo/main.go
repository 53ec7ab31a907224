// Command demo is `make demo`: it starts a local PLC directory and two
// reference PDSes, seeds an account on A (posts, images, a profile,
// preferences), moves it to B with the real atmigrate binary, verifies the
// result and stops everything. Nothing leaves the machine.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := filepath.Abs(envOr("ATMIGRATE_BIN", "bin/atmigrate"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s not found: run `make build` first", bin)
	}
	dir, err := os.MkdirTemp("", "atmigrate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	say("starting a local PLC directory and two PDSes (A and B)")
	start := time.Now()
	net, err := localnet.Start(ctx, localnet.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer net.Close()
	fmt.Printf("    PLC %s\n    A   %s\n    B   %s\n    (%s)\n", net.PLCURL, net.A.URL, net.B.URL, time.Since(start).Round(100*time.Millisecond))

	say("starting indigo's relay, following A and B")
	relay, err := net.StartRelay(ctx, localnet.RelayOptions{Follow: []*localnet.PDS{net.A, net.B}})
	if err != nil {
		return err
	}
	fmt.Printf("    relay %s\n", relay.URL)

	say("seeding alice.test on A: 500 posts, 40 images, a profile, preferences")
	start = time.Now()
	acct, err := net.A.CreateAccount(ctx, localnet.SeedSpec{
		Handle: "alice.test", Posts: 500, Blobs: 40, BlobMinBytes: 20_000, BlobMaxBytes: 120_000,
		Profile: true, Preferences: true,
	})
	if err != nil {
		return err
	}
	fmt.Printf("    %s, %d records, %d blobs (%s)\n", acct.DID, acct.Records, len(acct.Blobs), time.Since(start).Round(100*time.Millisecond))

	stateDir := filepath.Join(dir, "state")
	env := append(os.Environ(),
		"ATMIGRATE_ACCOUNT="+acct.DID,
		"ATMIGRATE_OLD_PASSWORD="+acct.Password,
		"ATMIGRATE_NEW_PDS="+net.B.URL,
		"ATMIGRATE_PLC_URL="+net.PLCURL,
		// Loopback only: the local relay, no public AppView.
		"ATMIGRATE_RELAY="+relay.URL,
		"ATMIGRATE_APPVIEW=none",
	)
	say("atmigrate migrate --account " + acct.DID + " --new-pds " + net.B.URL + " --yes")
	fmt.Println("    (no --plc-token: the data moves first, then the run pauses for the emailed token, exit 3)")
	code, err := tool(ctx, bin, env, "migrate", "--state-dir", stateDir, "--yes")
	if err != nil {
		return err
	}
	if code != 3 {
		return fmt.Errorf("expected the run to pause for the token (exit 3), got exit %d", code)
	}
	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		return err
	}
	say("the token arrived by email (the local PDS writes mail to a file); the same command again, with it")
	if code, err = tool(ctx, bin, append(env, "ATMIGRATE_PLC_TOKEN="+token), "migrate", "--state-dir", stateDir, "--yes"); err != nil || code != 0 {
		return fmt.Errorf("migrate with the token: exit %d %v", code, err)
	}
	say("atmigrate verify: every record, every blob, preferences, the DID document, both accounts' status")
	if code, err = tool(ctx, bin, append(env, "ATMIGRATE_NEW_PASSWORD="+acct.Password), "verify",
		"--account", acct.DID, "--old-pds", net.A.URL, "--new-pds", net.B.URL); err != nil || code != 0 {
		return fmt.Errorf("verify: exit %d %v", code, err)
	}
	say("atmigrate status")
	if code, err = tool(ctx, bin, env, "status", "--state-dir", stateDir); err != nil || code != 0 {
		return fmt.Errorf("status: exit %d %v", code, err)
	}
	say("done: the account lives on B; stopping the network")
	return nil
}

// tool runs the binary with the terminal's stdout and stderr, so its
// progress bars show, and stdin closed.
func tool(ctx context.Context, bin string, env []string, args ...string) (int, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

func say(s string) { fmt.Printf("\n==> %s\n", s) }

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}
