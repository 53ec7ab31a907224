// Command localnet runs the local AT Protocol network (a PLC directory and
// two PDSes) outside of tests, for the demo, benchmarks and poking around:
//
//	go run ./e2e/localnet/cmd/localnet up --dir .localnet
//	go run ./e2e/localnet/cmd/localnet up --dir .localnet --version-b 0.5   # B on @atproto/pds 0.5.35
//	go run ./e2e/localnet/cmd/localnet up --dir .localnet --relay           # and indigo's relay following A and B
//	. .localnet/env
//	go run ./e2e/localnet/cmd/localnet seed --pds "$PDS_A_URL" --handle alice --posts 500 --blobs 50
//
// `up` writes DIR/env (shell export lines, mode 0600 since it holds admin
// passwords and rotation keys) and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "up":
		err = runUp(ctx, os.Args[2:])
	case "seed":
		err = runSeed(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "localnet:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: localnet up [--dir DIR] [--version-a 0.4|0.5] [--version-b 0.4|0.5] [--invite-b] [--ratelimit-b] [--relay] [-v]\n       localnet seed --pds URL --handle H [--posts N] [--blobs N] ...")
	os.Exit(2)
}

func runUp(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", ".localnet", "working directory for data, logs and the env file")
	invite := fs.Bool("invite-b", false, "PDS B requires invite codes")
	rate := fs.Bool("ratelimit-b", false, "PDS B enforces rate limits (bypass key in env)")
	verA := fs.String("version-a", localnet.Version04, "PDS A's version: 0.4 (@atproto/pds 0.4.217) or 0.5 (0.5.35, under Node 22)")
	verB := fs.String("version-b", localnet.Version04, "PDS B's version: 0.4 (@atproto/pds 0.4.217) or 0.5 (0.5.35, under Node 22)")
	relay := fs.Bool("relay", false, "also start indigo's relay following both PDSes (needs `make localnet-relay`)")
	relayLimit := fs.Int64("relay-account-limit", localnet.DefaultRelayAccountLimit, "the relay's account limit for each PDS")
	verbose := fs.Bool("v", false, "print server logs to stderr")
	fs.Parse(args)

	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	// Fresh data every time: the PLC keeps its state in memory, so old PDS
	// data would refer to DIDs the new PLC does not know.
	for _, sub := range []string{"pds-a", "pds-b", "relay"} {
		if err := os.RemoveAll(filepath.Join(abs, sub)); err != nil {
			return fmt.Errorf("clear old data: %w", err)
		}
	}
	if *relay {
		// Before the network starts: a missing build fails at once.
		if err := localnet.EnsureRelayInstalled(); err != nil {
			return err
		}
	}
	var out io.Writer
	if *verbose {
		out = os.Stderr
	}
	start := time.Now()
	n, err := localnet.Start(ctx, localnet.Options{
		Dir: abs, InviteRequiredB: *invite, RateLimitsB: *rate, Stdout: out,
		VersionA: *verA, VersionB: *verB,
	})
	if err != nil {
		return err
	}
	defer n.Close()
	var r *localnet.Relay
	if *relay {
		r, err = n.StartRelay(ctx, localnet.RelayOptions{Follow: []*localnet.PDS{n.A, n.B}, AccountLimit: *relayLimit})
		if err != nil {
			return err
		}
	}
	envPath := filepath.Join(abs, "env")
	if err := os.WriteFile(envPath, []byte(envFile(n, r)), 0o600); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	fmt.Fprintf(os.Stderr, "localnet up in %s\n  PLC   %s\n  PDS A %s (@atproto/pds %s)\n  PDS B %s (@atproto/pds %s)\n",
		time.Since(start).Round(time.Millisecond), n.PLCURL, n.A.URL, n.A.PackageVersion, n.B.URL, n.B.PackageVersion)
	if r != nil {
		fmt.Fprintf(os.Stderr, "  relay %s (indigo cmd/relay, following %s and %s; log %s)\n", r.URL, n.A.Hostname(), n.B.Hostname(), r.LogPath)
	}
	fmt.Fprintf(os.Stderr, "source %s for the settings; Ctrl-C stops\n", envPath)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "localnet: stopping")
	return nil
}

// envFile renders the network's settings as shell export lines; r is the
// relay, or nil.
func envFile(n *localnet.Network, r *localnet.Relay) string {
	var b strings.Builder
	set := func(k, v string) { fmt.Fprintf(&b, "export %s='%s'\n", k, v) }
	set("ATMIGRATE_PLC_URL", n.PLCURL)
	for _, p := range []struct {
		prefix string
		pds    *localnet.PDS
	}{{"PDS_A", n.A}, {"PDS_B", n.B}} {
		set(p.prefix+"_URL", p.pds.URL)
		set(p.prefix+"_DID", p.pds.DID)
		set(p.prefix+"_VERSION", p.pds.PackageVersion)
		set(p.prefix+"_ADMIN_PASSWORD", p.pds.AdminPassword)
		set(p.prefix+"_ROTATION_KEY", p.pds.RotationKeyMultibase)
		set(p.prefix+"_ROTATION_KEY_DID", p.pds.RotationKeyDID)
		set(p.prefix+"_DATA_DIR", p.pds.DataDir)
		if p.pds.RateLimitBypassKey != "" {
			set(p.prefix+"_RATE_LIMIT_BYPASS_KEY", p.pds.RateLimitBypassKey)
		}
	}
	if r != nil {
		set("RELAY_URL", r.URL)
		set("RELAY_ADMIN_PASSWORD", r.AdminPassword)
	}
	return b.String()
}

func runSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	pdsURL := fs.String("pds", os.Getenv("PDS_A_URL"), "PDS URL (default $PDS_A_URL)")
	bypass := fs.String("bypass-key", "", "x-ratelimit-bypass key, if the PDS has rate limits")
	admin := fs.String("admin-password", "", "admin password, to make an invite code when --invite-needed")
	var spec localnet.SeedSpec
	fs.StringVar(&spec.Handle, "handle", "", "handle (\".test\" appended if it has no dot)")
	fs.StringVar(&spec.Email, "email", "", "email (default <handle>@example.com)")
	fs.StringVar(&spec.Password, "password", "", "password (default "+localnet.DefaultPassword+")")
	fs.StringVar(&spec.InviteCode, "invite", "", "invite code")
	fs.StringVar(&spec.RecoveryKey, "recovery-key", "", "did:key to add as the first rotation key")
	fs.IntVar(&spec.Posts, "posts", 100, "plain posts")
	fs.IntVar(&spec.Blobs, "blobs", 10, "image blobs, each in its own post")
	fs.IntVar(&spec.BlobMinBytes, "blob-min", 50_000, "smallest blob size")
	fs.IntVar(&spec.BlobMaxBytes, "blob-max", 200_000, "largest blob size")
	fs.BoolVar(&spec.Profile, "profile", true, "add a profile with an avatar")
	fs.BoolVar(&spec.Preferences, "prefs", true, "store preferences")
	inviteNeeded := fs.Bool("invite-needed", false, "create an invite code first (needs --admin-password)")
	fs.Parse(args)
	if *pdsURL == "" || spec.Handle == "" {
		return errors.New("seed: --pds and --handle are required")
	}
	p := &localnet.PDS{Name: *pdsURL, URL: strings.TrimRight(*pdsURL, "/"), RateLimitBypassKey: *bypass, AdminPassword: *admin}
	if *inviteNeeded && spec.InviteCode == "" {
		code, err := p.CreateInviteCode(ctx, 1)
		if err != nil {
			return err
		}
		spec.InviteCode = code
	}
	start := time.Now()
	acct, err := p.CreateAccount(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s records=%d blobs=%d (%s)\n", acct.DID, acct.Handle, acct.Records, len(acct.Blobs), time.Since(start).Round(time.Millisecond))
	return nil
}
