package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/plc"
)

// printGuard tells, after a migration and in `status`, until when the
// switch can be undone, by which keys, and that `atmigrate watch` guards
// it. It reads the audit log (briefly); without it, it says what the state
// alone knows.
func printGuard(ctx context.Context, w io.Writer, dir string, st *checkpoint.State) {
	opts, err := identity.WatchOptionsFromState(st)
	if err != nil {
		return
	}
	opts.NewPDS, opts.OldPDS = "", "" // the PLC only: the accounts were just checked
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	rep, err := identity.Watch(ctx, opts)
	watch := "atmigrate watch --state-dir " + shellQuote(dir)
	if err != nil {
		ends := "72 hours after it"
		if !st.PLC.Submitted.IsZero() {
			ends = stamp(st.PLC.Submitted.Add(plc.NullifyWindow))
		}
		fmt.Fprintf(w, "identity  switched by %s; the 72-hour window runs until %s (could not read the PLC directory: %v)\n", st.PLC.OpCID, ends, err)
		fmt.Fprintf(w, "          hint: `%s` reports any later operation and how to undo it\n", watch)
		return
	}
	k := rep.Ours
	fmt.Fprintf(w, "identity  switched by %s at %s, signed by rotation key %s\n", k.CID, stamp(k.CreatedAt), signer(k))
	fmt.Fprintf(w, "          until %s a key above that one can undo the switch: %s\n", stamp(k.WindowEnds), plc.NumberedKeys(k.Overriders))
	fmt.Fprintf(w, "          rotation keys now: %s\n", plc.NumberedKeys(rep.RotationKeys))
	fmt.Fprintln(w, "          each can sign a new operation; a key above its signer can undo it within 72 hours")
	if rep.Changed() {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "          CHANGED: %s\n", p)
		}
		fmt.Fprintf(w, "          hint: `%s --once` shows it and the command that undoes it\n", watch)
		return
	}
	fmt.Fprintf(w, "          hint: `%s` checks until %s and exits 1 at the first change\n", watch, stamp(k.WindowEnds))
}
