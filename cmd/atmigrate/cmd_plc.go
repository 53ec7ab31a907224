package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/did-method-plc/go-didplc/didplc"
	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
)

var plcURLFlag = &cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}}

var cmdPLC = &cli.Command{
	Name:  "plc",
	Usage: "hold your own PLC rotation key: keygen, log, add-rotation-key, recover",
	Subcommands: []*cli.Command{
		{
			Name:   "keygen",
			Usage:  "write a new K-256 private key to a 0600 file and print its did:key",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "out", Usage: "file to write (must not exist); required"}},
			Action: runKeygen,
		},
		{
			Name:  "log",
			Usage: "print a DID's PLC audit log, readable",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "account", Usage: "handle or DID; required", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
				&cli.StringFlag{Name: "old-pds", Usage: "the account's PDS: resolve a handle through it (default: DNS/HTTPS)"},
				plcURLFlag,
				&cli.BoolFlag{Name: "json", Usage: "print the raw audit log"},
				stallFlag,
				oldString("pds", "old-pds"),
			},
			Action: runPLCLog,
		},
		{
			Name:        "add-rotation-key",
			Usage:       "put a did:key at the top of the DID's rotation keys (through the PDS with its email token, or signed with a rotation key you hold)",
			Description: withExitCodes("", "plc add-rotation-key"),
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "account", Usage: "handle or DID; required", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
				&cli.StringFlag{Name: "key", Usage: "the did:key to add; required"},
				&cli.StringFlag{Name: "old-pds", Usage: "the account's PDS (default: from the DID document); handles are resolved through it"},
				&cli.StringFlag{Name: "old-password", Usage: "the account's password (prefer the env var: flags show in the process list)", EnvVars: []string{"ATMIGRATE_OLD_PASSWORD"}},
				&cli.StringFlag{Name: "auth-factor-token", Usage: "the sign-in code a PDS with email 2FA asks for"},
				&cli.StringFlag{Name: "plc-token", Usage: "the email token, on a second run", EnvVars: []string{"ATMIGRATE_PLC_TOKEN"}},
				&cli.StringFlag{Name: "rotation-key", Usage: "sign locally with this rotation key file instead of the PDS"},
				&cli.StringFlag{Name: "rotation-key-type", Usage: "curve of a hex key: k256 or p256", Value: "k256"},
				plcURLFlag,
				&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
				stallFlag,
				oldString("pds", "old-pds"),
				oldString("password", "old-password", "ATMIGRATE_PASSWORD"),
			},
			Action: runAddRotationKey,
		},
		cmdPLCRecover,
	},
}

func runKeygen(c *cli.Context) error {
	path := c.String("out")
	if path == "" {
		return usageError{"--out is required", "pass the path of the key file to write"}
	}
	key, err := plc.GenerateK256()
	if err != nil {
		return err
	}
	if err := plc.WriteKeyFile(path, key); err != nil {
		return usageError{err.Error(), "choose a path that does not exist yet"}
	}
	dk, err := plc.DIDKey(key)
	if err != nil {
		return err
	}
	fmt.Println(dk)
	fmt.Fprintf(os.Stderr, "atmigrate: private key written to %s (mode 0600). Keep a copy offline: whoever holds it controls the identity.\n", path)
	fmt.Fprintf(os.Stderr, "atmigrate: hint: add it with `atmigrate plc add-rotation-key --account YOU --key %s`\n", dk)
	return nil
}

func runPLCLog(c *cli.Context) error {
	did, err := resolveForPLC(c)
	if err != nil {
		return err
	}
	log, err := servers.New(runClient(c), nil, nil, nil).PLC(c.String("plc-url")).AuditLog(c.Context, did)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(log)
	}
	if err := didplc.VerifyOpLog(log); err != nil {
		fmt.Fprintf(os.Stderr, "atmigrate: warning: the audit log does not verify: %v\n", err)
	}
	for i, e := range log {
		mark := ""
		if e.Nullified {
			mark = "  (nullified)"
		}
		fmt.Printf("#%d  %s  %s%s\n", i, e.CreatedAt, e.CID, mark)
		switch op := e.Operation.AsOperation().(type) {
		case *didplc.RegularOp:
			printOp(op)
		case *didplc.LegacyOp:
			r := op.RegularOp()
			printOp(&r)
		case *didplc.TombstoneOp:
			fmt.Println("    tombstone")
		}
	}
	return nil
}

func printOp(op *didplc.RegularOp) {
	fmt.Printf("    endpoint      %s\n", op.Services["atproto_pds"].Endpoint)
	fmt.Printf("    handle        %s\n", strings.Join(op.AlsoKnownAs, " "))
	fmt.Printf("    signing key   %s\n", op.VerificationMethods["atproto"])
	for i, k := range op.RotationKeys {
		fmt.Printf("    rotation[%d]   %s\n", i, k)
	}
}

// resolveForPLC is --account's DID, a handle resolved through --old-pds.
func resolveForPLC(c *cli.Context) (string, error) {
	if c.String("account") == "" {
		return "", usageError{"--account is required", "pass the handle or DID"}
	}
	return accountDID(c, c.String("old-pds"), "")
}

func runAddRotationKey(c *cli.Context) error {
	for _, f := range []string{"account", "key"} {
		if c.String(f) == "" {
			return usageError{"--" + f + " is required", "see `atmigrate plc add-rotation-key --help`"}
		}
	}
	var key plcKey
	if p := c.String("rotation-key"); p != "" {
		k, err := plc.LoadPrivateKeyFile(p, c.String("rotation-key-type"))
		if err != nil {
			return usageError{fmt.Sprintf("read --rotation-key %s: %v", p, err), ""}
		}
		key = k
	}
	pw := c.String("old-password")
	if key == nil && pw == "" {
		if !isTerminal(os.Stdin) {
			return usageError{"ATMIGRATE_OLD_PASSWORD (or --old-password) is required without --rotation-key", "or sign with --rotation-key FILE, a key the DID already lists"}
		}
		p, err := readSecret("Password for " + c.String("account") + ": ")
		if err != nil {
			return err
		}
		pw = p
	}
	out := newOutput(os.Stderr)
	res, err := identity.AddRotationKey(c.Context, identity.AddKeyOptions{
		Account: c.String("account"), PDS: c.String("old-pds"), Password: pw, AuthFactorToken: c.String("auth-factor-token"),
		PLCURL: c.String("plc-url"), PLCToken: c.String("plc-token"),
		Key: c.String("key"), RotationKey: key, Yes: c.Bool("yes"),
		UI: newTerminalUI(out), Progress: out, HTTPClient: runClient(c),
	})
	out.Close()
	if isPaused(err) {
		fmt.Fprintln(os.Stderr, "atmigrate: the PDS emailed a PLC token to the account's address")
		fmt.Fprintln(os.Stderr, "atmigrate: hint: run the same command again soon with --plc-token TOKEN ("+identity.TokenLifeWords+")")
		return silentExit(exitPaused)
	}
	if err != nil {
		return err
	}
	if res.Already {
		fmt.Fprintf(os.Stderr, "atmigrate: %s is already a rotation key of %s; nothing to do\n", c.String("key"), res.DID)
		return nil
	}
	fmt.Fprintf(os.Stderr, "atmigrate: %s now has rotation keys (op %s):\n", res.DID, res.OpCID)
	for i, k := range res.RotationKeys {
		fmt.Fprintf(os.Stderr, "  [%d] %s\n", i, k)
	}
	return nil
}
