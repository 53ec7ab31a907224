package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
)

// runDryRun prints what a real run would do and whether it should succeed:
// exit 0 when it should, 1 when it would stop (with the blockers), 4 when
// that cannot be told (with what is not known).
func runDryRun(c *cli.Context, opts *migrate.Options) error {
	rep, err := migrate.DryRun(c.Context, *opts)
	if err != nil {
		return err
	}
	sayDryRun(rep)
	if c.Bool("json") {
		if err := printJSON(rep); err != nil {
			return err
		}
	} else {
		printDryRun(os.Stdout, rep)
	}
	switch rep.Verdict {
	case migrate.VerdictStop:
		return silentExit(exitFailed)
	case migrate.VerdictCannotTell:
		return silentExit(exitUnknown)
	}
	return nil
}

func printDryRun(w io.Writer, r *migrate.DryRunReport) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(w, "Dry run: nothing was written anywhere.\n\n")
	fmt.Fprintf(w, "account       %s (%s)\n", r.Handle, r.DID)
	fmt.Fprintf(w, "from          %s\n", r.OldPDS)
	if !r.Checked {
		fmt.Fprintf(w, "to            %s\n", r.NewPDS)
		printDryRunEnd(w, r)
		return
	}
	fmt.Fprintf(w, "to            %s as %s\n", r.NewPDS, r.NewHandle)
	fmt.Fprintf(w, "login         ok: %s, 2FA code needed: %s, account active: %s\n", yes(r.Login.OK), yes(r.Login.AuthFactorNeeded), yes(r.Login.Active))
	fmt.Fprintf(w, "new PDS       %s, invite required: %s, handle domains: %s\n", r.Server.DID, yes(r.Server.InviteCodeRequired), strings.Join(r.Server.HandleDomains, " "))
	fmt.Fprintf(w, "handle        allowed: %s, free: %s\n", yes(r.Server.HandleAllowed), yes(r.Server.HandleFree))
	if r.Repo.Commit == "" {
		fmt.Fprintf(w, "repo          not checked: a real run stops before the export\n")
	} else {
		fmt.Fprintf(w, "repo          %d records, %.1f MB, rev %s\n", r.Repo.Records, float64(r.Repo.Bytes)/1e6, r.Repo.Rev)
		fmt.Fprintf(w, "blobs         %d, %.1f MB, largest %.1f MB\n", r.Blobs.Count, float64(r.Blobs.Bytes)/1e6, float64(r.Blobs.Largest)/1e6)
		fmt.Fprintf(w, "limits        %s\n", limitsWords(r.Limits))
		fmt.Fprintf(w, "rate limits   %s\n", rateLimitWords(r.RateLimits))
	}
	if r.Disk.Dir != "" {
		fmt.Fprintf(w, "disk          %.1f MB free in %s; the run holds at most %.1f MB there (repo, room for temporary copies, %.1f MB prefetch window, uploads in flight)\n",
			float64(r.Disk.Free)/1e6, r.Disk.Dir, float64(r.Disk.Peak)/1e6, float64(r.Disk.Window)/1e6)
	}
	fmt.Fprintf(w, "PLC           signed by %s; %d op(s) in the last hour, %d in the last day\n", methodWords(r), r.PLC.OpsLastHour, r.PLC.OpsLastDay)
	if r.PLC.RotationKeyValid != nil {
		fmt.Fprintf(w, "rotation key  %s: one of the DID's rotation keys: %s\n", r.PLC.RotationKey, yes(*r.PLC.RotationKeyValid))
	}
	fmt.Fprintf(w, "estimate      about %s\n", (time.Duration(r.EstimateSeconds) * time.Second).String())
	if r.PLC.Diff != "" {
		fmt.Fprintf(w, "\nThe DID document, as it is and as it would be:\n%s", r.PLC.Diff)
	}
	printDryRunEnd(w, r)
}

// printDryRunEnd prints the plan, the warnings and the verdict.
func printDryRunEnd(w io.Writer, r *migrate.DryRunReport) {
	if len(r.Plan) > 0 {
		fmt.Fprintf(w, "\nWhat a real run would do now:\n")
		for _, s := range r.Plan {
			switch {
			case s.Run && s.Reason != "":
				fmt.Fprintf(w, "  %-15s run (%s)\n", s.Stage, s.Reason)
			case s.Run:
				fmt.Fprintf(w, "  %-15s run: %s\n", s.Stage, s.Stage.Description())
			default:
				fmt.Fprintf(w, "  %-15s skip: %s\n", s.Stage, s.Reason)
			}
		}
	}
	if len(r.Effects) > 0 {
		fmt.Fprintf(w, "\nWhat a real run would change, in order (the dry run changed none of it):\n")
		for _, e := range r.Effects {
			fmt.Fprintf(w, "  %-15s %s\n", cmp.Or(string(e.Stage), "-"), e.What)
		}
	}
	if len(r.Warnings)+len(r.Unknown) > len(r.CannotTell) {
		fmt.Fprintln(w)
	}
	for _, x := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
	for _, x := range r.Unknown {
		if !slices.Contains(r.CannotTell, x) {
			fmt.Fprintf(w, "not known: %s\n", x)
		}
	}
	switch r.Verdict {
	case migrate.VerdictStop:
		at := ""
		if r.StopsAt != "" {
			at = " at " + string(r.StopsAt)
		}
		fmt.Fprintf(w, "\nA real run would stop%s:\n", at)
		for _, b := range r.Blockers {
			fmt.Fprintf(w, "  - %s\n", b)
		}
	case migrate.VerdictCannotTell:
		fmt.Fprintf(w, "\nWhether a real run succeeds cannot be told:\n")
		for _, x := range r.CannotTell {
			fmt.Fprintf(w, "  - %s\n", x)
		}
	default:
		fmt.Fprintf(w, "\nA real run should succeed.\n")
	}
}

func methodWords(r *migrate.DryRunReport) string {
	switch r.PLC.Method {
	case "rotation-key":
		return "your rotation key (no email token)"
	case "did-web":
		return "nobody: a did:web document is published by you (the run writes it)"
	}
	return "the old PDS with the email token (asked for after the data is copied)"
}

func limitsWords(l migrate.DryRunLimits) string {
	up := "blob upload limit not reported"
	if l.BlobUploadLimit > 0 {
		up = fmt.Sprintf("blob upload limit %.1f MB, %d blob(s) over it", float64(l.BlobUploadLimit)/1e6, len(l.Oversized))
	}
	return fmt.Sprintf("%s; repo %.1f MB against an import limit no PDS reports", up, float64(l.RepoBytes)/1e6)
}

func rateLimitWords(rl migrate.DryRunRateLimits) string {
	state := "none announced (off, or not reported)"
	switch {
	case rl.BypassKey:
		state = "bypass key sent"
	case rl.Seen:
		state = "on: " + rl.Global
	}
	return fmt.Sprintf("%s; %d blob upload(s) to make, %d day(s) at the reference PDS's %d a day", state, rl.Uploads, rl.Days, rl.UploadsPerDay)
}

// sayDryRun says the choices the report's words name as flags.
func sayDryRun(r *migrate.DryRunReport) {
	for _, list := range [][]string{r.Blockers, r.Warnings, r.Unknown, r.CannotTell} {
		for i := range list {
			list[i] = say(list[i])
		}
	}
	for i := range r.Plan {
		r.Plan[i].Reason = say(r.Plan[i].Reason)
	}
	for i := range r.Effects {
		r.Effects[i].What = say(r.Effects[i].What)
	}
}
