package main

import (
	"os"
	"runtime/debug"
)

// defaultMemoryLimit is a soft limit on the Go runtime's memory: past it
// the garbage collector runs more often instead of letting the heap grow
// to twice the live data. A migration's live data is small (a few MB of
// repo index and buffers: everything is streamed), but the repo
// verification churns through short-lived allocations, and with the
// default GOGC alone the peak RSS grew with the account's size. The bench
// (make bench) measures the effect; GOMEMLIMIT overrides it.
const defaultMemoryLimit = 24 << 20

func init() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
