// Package memlimit holds the Go runtime memory settings atmigrate ships.
// They live here, not in package main, so that the CLI and the memory
// bench (BENCH=memory make bench, e2e/bench/memverify) apply one
// implementation: what is measured is what ships.
package memlimit

import (
	"os"
	"runtime/debug"
)

// defaultMemoryLimit is a soft limit on the Go runtime's memory: past it
// the garbage collector runs more often instead of letting the heap grow
// to twice the live data. A migration's live data is small (a few MB of
// repo index and buffers: everything is streamed), but the repo
// verification churns through short-lived allocations, and with the
// default GOGC alone the peak RSS grew with the account's size.
const defaultMemoryLimit = 24 << 20

// Apply sets the shipped memory settings unless the environment chose its
// own: GOMEMLIMIT, read by the runtime at start, wins.
func Apply() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
