package main

import (
	"testing"
	"time"
)

// The bench itself is run by `make bench`, never by `go test`; these check
// only its helpers, with no network and no timing.

func TestChooseSizes(t *testing.T) {
	names := func(env string) string {
		ss, err := chooseSizes(env)
		if err != nil {
			return "error"
		}
		out := ""
		for _, s := range ss {
			out += s.Name + " "
		}
		return out
	}
	for env, want := range map[string]string{
		"": "S M L ", "XL": "S M L XL ", "xl": "S M L XL ", "S": "S ", "m, l": "M L ", "L,XL": "L XL ", "Q": "error",
	} {
		if got := names(env); got != want {
			t.Errorf("BENCH=%q: got %q, want %q", env, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3 = %v", m)
	}
	if m := median([]float64{4, 1}); m != 2.5 {
		t.Errorf("median of 2 = %v", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median of none = %v", m)
	}
}

func TestCPUReadings(t *testing.T) {
	if systemBusy() <= 0 {
		t.Skip("no /proc/stat")
	}
	// Spin until the kernel has counted a tick (10 ms) of CPU, at most 2 s.
	deadline := time.Now().Add(2 * time.Second)
	x := 0
	for procCPU("self", false) <= 0 && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
	}
	_ = x
	if procCPU("self", false) <= 0 {
		t.Error("the test process used no CPU, by /proc/self/stat")
	}
}

func TestSplitBatch(t *testing.T) {
	for _, c := range []struct {
		env, rest string
		batch     bool
	}{
		{"", "", false},
		{"M,L", "M,L", false},
		{"BATCH", "", true},
		{"s,batch,L", "s,L", true},
		{" Batch ", "", true},
	} {
		rest, batch := splitBatch(c.env)
		if rest != c.rest || batch != c.batch {
			t.Errorf("splitBatch(%q) = %q, %v; want %q, %v", c.env, rest, batch, c.rest, c.batch)
		}
	}
}

// The bound is the export plus the lesser of PDS B's two CPU counts, over
// the floor's total: L's figures from a December 2026 run (export 2.85 s,
// B 9.59 and 8.76 CPU s, floor 12.65 s) give 0.92.
func TestBound(t *testing.T) {
	f := FloorRun{Export: 2.85, Total: 12.65}
	if got := bound(f, 9.59, 8.76); got < 0.917 || got > 0.918 {
		t.Errorf("bound %.4f, want 0.9178", got)
	}
	if got := bound(FloorRun{}, 1, 1); got != 0 {
		t.Errorf("bound of an empty floor %v, want 0", got)
	}
}
