// Package workers runs a function over items with bounded concurrency:
// the one worker pool of the blob transfers, the exports and the batch.
package workers

import (
	"context"
	"sync"
)

// Each calls fn for every item, at most workers at once, and
// returns when every call has returned. Once ctx ends no new call starts;
// the calls in flight see ctx themselves.
func Each[T any](ctx context.Context, items []T, workers int, fn func(T)) {
	jobs := make(chan T)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range jobs {
				fn(it)
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case jobs <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}
