// Package fuzzcheck holds what every fuzz target of atmigrate asserts
// besides "no panic": that one call on an input allocates memory in
// proportion to the input, so a length field claiming gigabytes is refused
// before it is allocated. Only _test files import it.
package fuzzcheck

import (
	"runtime"
	"testing"
)

// FixedBudget is what a call may allocate whatever its input: the largest
// buffer a parser may size up front from a length field (a CAR block, 8
// MiB; go-car's header, 1 MiB) with room to spare.
const FixedBudget = 64 << 20

// PerByte is what a call may allocate per input byte on top of
// FixedBudget: decoding JSON or CBOR into maps and slices costs a few
// dozen bytes per input byte, never more.
const PerByte = 256

// Budget is the allocation allowed for one call on an input of n bytes.
func Budget(n int) uint64 { return FixedBudget + PerByte*uint64(n) }

// Alloc runs fn and fails t when it allocated more than Budget(n) bytes,
// n being the length of the input fn parses. It counts the whole
// process's allocations, an httptest server's included; a fuzzing worker
// is a process of its own that runs one input at a time, so -parallel
// does not blur the count.
func Alloc(t testing.TB, n int, fn func()) {
	t.Helper()
	AllocAtMost(t, Budget(n), fn)
}

// AllocAtMost runs fn and fails t when it allocated more than limit bytes:
// for unit tests that pin a limit tighter than the fuzzing budget.
func AllocAtMost(t testing.TB, limit uint64, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Fatalf("allocated %d bytes (limit %d)", got, limit)
	}
}
