package repo

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkVerifyCAR(b *testing.B) {
	r, key := buildRepo(b, 20000, 200)
	car := r.CAR()
	opts := VerifyOptions{DID: testDID, Keys: pubKeys(b, key)}
	b.ReportAllocs()
	b.SetBytes(int64(len(car)))
	b.ResetTimer()
	for b.Loop() {
		sum, err := VerifyCAR(context.Background(), bytes.NewReader(car), opts)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Records != 20000 {
			b.Fatalf("records = %d", sum.Records)
		}
	}
}

// TestVerifyCARMemory measures the heap VerifyCAR uses beyond the CAR
// bytes themselves (which the test holds in memory; in production they are
// streamed from a file). It is slow, so it only runs with
// ATMIGRATE_MEMTEST=1; ATMIGRATE_MEMTEST_MAX_MIB sets a failure bound for
// the 100k case.
func TestVerifyCARMemory(t *testing.T) {
	if os.Getenv("ATMIGRATE_MEMTEST") == "" {
		t.Skip("set ATMIGRATE_MEMTEST=1 to measure VerifyCAR memory")
	}
	for _, n := range []int{20000, 100000} {
		r, key := buildRepo(t, n, n/100)
		car := r.CAR()
		r = nil
		// The live set peaks during the MST walk, when every node block
		// and the record set are held: measure it at the first record.
		var live uint64
		opts := VerifyOptions{DID: testDID, Keys: pubKeys(t, key), Records: func(string, string) error {
			if live == 0 {
				live = liveHeap()
			}
			return nil
		}}
		base := liveHeap()
		peak, allocs, total := measureHeap(func() {
			if _, err := VerifyCAR(context.Background(), bytes.NewReader(car), opts); err != nil {
				t.Fatal(err)
			}
		})
		live -= min(live, base)
		t.Logf("%d records, CAR %.1f MiB: live heap during walk %.1f MiB, peak HeapInuse above baseline %.1f MiB (GOGC-dependent), %d allocs, %.1f MiB allocated",
			n, float64(len(car))/(1<<20), float64(live)/(1<<20), float64(peak)/(1<<20), allocs, float64(total)/(1<<20))
		if max, _ := strconv.Atoi(os.Getenv("ATMIGRATE_MEMTEST_MAX_MIB")); max > 0 && live > uint64(max)<<20 {
			t.Errorf("live heap %.1f MiB exceeds %d MiB", float64(live)/(1<<20), max)
		}
		runtime.KeepAlive(car)
	}
}

// liveHeap returns the bytes of reachable heap objects after a full GC.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// measureHeap runs f while sampling HeapInuse every millisecond and returns
// the peak above the pre-run baseline, plus allocation count and bytes.
func measureHeap(f func()) (peak uint64, allocs uint64, total uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, mallocs, alloc := ms.HeapInuse, ms.Mallocs, ms.TotalAlloc
	var max atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var s runtime.MemStats
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&s)
			if s.HeapInuse > max.Load() {
				max.Store(s.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > max.Load() {
		max.Store(ms.HeapInuse)
	}
	if max.Load() > base {
		peak = max.Load() - base
	}
	return peak, ms.Mallocs - mallocs, ms.TotalAlloc - alloc
}
