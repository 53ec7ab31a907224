package main

import "github.com/atmigrate/atmigrate/internal/memsettings"

// The memory settings, and the measurements behind them, are in
// internal/memsettings, shared with the memory bench.
func init() {
	memsettings.Apply()
}
