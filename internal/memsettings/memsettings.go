// Package memsettings holds the Go runtime memory settings atmigrate
// ships. They live here, not in package main, so that the CLI and the
// memory bench (BENCH=memory make bench, e2e/bench/memverify) apply one
// implementation: what is measured is what ships.
package memsettings

import (
	"os"
	"runtime/debug"
)

// gcPercent is the GOGC atmigrate runs with: between collections the heap
// may grow to 1.5 times the live data, not Go's default 2 times. The live
// data that grows with an account is the repo verification's index (about
// 45 bytes a record since December 2026, 200 before); everything else
// streams.
//
// Chosen with BENCH=memory make bench (table in README.md, "Performance
// and memory"), which verifies synthetic repos through repo.VerifyCAR as
// the export stage does, one process per run, medians of 6 runs:
//
//   - The 24 MiB GOMEMLIMIT shipped before changed nothing up to 20,000
//     records (the heap never reached it) and cost above: at 100,000
//     records 2.3 CPU s against 0.9 with GOGC=50, the GC taking 36% of the
//     CPU, to save 7 MB; at 1,000,000 the live index is about 200 MB, far
//     past the limit, so the GC runs without pause at the 50% CPU cap Go
//     puts on it: 29 CPU s and 21.6 s of wall against 9.0 and 8.0, to save
//     74 MB. A 64 MiB limit only moves that cliff (31 CPU s at 1,000,000).
//   - GOGC scales with the account instead: the GC's share stays flat at
//     every size (about 13-17% at 50, 7-10% at 100) and the peak RSS
//     follows the live data. At 1,000,000 records 50 peaks at 310 MB
//     against 415 MB for Go's default 100, for up to 12% more CPU; 25
//     saves another 35 MB for 20% more, 75 half as much. At the bench's
//     sizes 50 costs about 0.1 CPU s at most and peaks at 17-44 MB.
//
// No memory limit is set: GOMEMLIMIT from the environment applies as in
// any Go program, and GOGC from the environment overrides this.
const gcPercent = 50

// Apply sets GOGC to gcPercent unless the environment set GOGC (the runtime
// has read it already).
func Apply() {
	apply(os.Getenv, debug.SetGCPercent)
}

func apply(getenv func(string) string, setGCPercent func(int) int) {
	if getenv("GOGC") == "" {
		setGCPercent(gcPercent)
	}
}
