package memsettings

import (
	"runtime/debug"
	"testing"
)

func TestApplyLeavesGOGCFromTheEnvironment(t *testing.T) {
	for env, want := range map[string]int{"": gcPercent, "200": -2, "off": -2} {
		got := -2 // not called
		apply(func(k string) string {
			if k == "GOGC" {
				return env
			}
			return ""
		}, func(p int) int { got = p; return 100 })
		if got != want {
			t.Errorf("GOGC=%q: SetGCPercent(%d), want %d (-2: not called)", env, got, want)
		}
	}
}

func TestApplySetsNoMemoryLimit(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetMemoryLimit(-1)
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	Apply()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC after Apply = %d, want %d", got, gcPercent)
	}
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("memory limit changed from %d to %d", before, after)
	}
}
