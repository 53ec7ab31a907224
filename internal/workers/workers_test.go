package workers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachConcurrentlyBoundsAndCoversEveryItem(t *testing.T) {
	items := make([]int, 50)
	for i := range items {
		items[i] = i
	}
	var running, peak atomic.Int32
	var mu sync.Mutex
	seen := map[int]bool{}
	Each(context.Background(), items, 3, func(i int) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		mu.Lock()
		seen[i] = true
		mu.Unlock()
	})
	if len(seen) != len(items) {
		t.Errorf("%d of %d items handled", len(seen), len(items))
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want 2-3 of 3 workers", p)
	}
}

func TestEachConcurrentlyStopsStartingOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	Each(ctx, make([]int, 100), 2, func(int) {
		if calls.Add(1) == 3 {
			cancel()
		}
	})
	if n := calls.Load(); n >= 100 || n < 3 {
		t.Errorf("%d calls after a cancel at the third, want far fewer than 100", n)
	}
}
