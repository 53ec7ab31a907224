package fuzzcheck

import "testing"

// TestAllocCatchesAHugeAllocation: the check fails a call that allocates
// far beyond its input, and passes one that does not.
func TestAllocCatchesAHugeAllocation(t *testing.T) {
	var sink []byte
	inner := &testing.T{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Alloc(inner, 10, func() { sink = make([]byte, FixedBudget+1<<20) })
	}()
	<-done
	if !inner.Failed() {
		t.Error("a 65 MiB allocation on a 10 byte input passed")
	}
	Alloc(t, 10, func() { sink = make([]byte, 1<<20) })
	_ = sink
}
