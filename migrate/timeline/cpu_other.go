//go:build !unix

package timeline

import "time"

// processCPU cannot be read here: the timeline has no CPU lane.
func processCPU() (time.Duration, bool) { return 0, false }
