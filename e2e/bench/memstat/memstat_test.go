package memstat

import "testing"

func TestShares(t *testing.T) {
	m := Measurement{User: 1.5, Sys: 0.5, GoCPU: 4, GCCPU: 1}
	if got := m.CPU(); got != 2 {
		t.Errorf("CPU = %v", got)
	}
	if got := m.GCShare(); got != 25 {
		t.Errorf("GC share = %v", got)
	}
	if got := (Measurement{}).GCShare(); got != 0 {
		t.Errorf("GC share of nothing = %v", got)
	}
}
