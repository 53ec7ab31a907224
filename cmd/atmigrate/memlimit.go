package main

import "github.com/atmigrate/atmigrate/internal/memlimit"

// The memory settings, and the measurements behind them, are in
// internal/memlimit, shared with the memory bench.
func init() {
	memlimit.Apply()
}
