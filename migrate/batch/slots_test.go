package batch

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Accounts past their data stages give their slot to the next: at most n
// in the data stages, at most 2n in flight, and more than n at once
// only thanks to the release. Without a release, n at a time.
func TestRunAccountsHandsOnTheDataSlot(t *testing.T) {
	for _, releases := range []bool{true, false} {
		const n = 2
		var mu sync.Mutex
		var inData, inFlight, maxData, maxFlight, ran int
		todo := []int{0, 1, 2, 3, 4, 5, 6, 7}
		runAccounts(context.Background(), todo, n, func(i int, release func()) {
			mu.Lock()
			inData++
			inFlight++
			ran++
			maxData, maxFlight = max(maxData, inData), max(maxFlight, inFlight)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // the data stages
			mu.Lock()
			inData--
			mu.Unlock()
			if releases {
				release()
			}
			time.Sleep(30 * time.Millisecond) // the tail
			mu.Lock()
			inFlight--
			mu.Unlock()
		})
		if ran != len(todo) {
			t.Fatalf("releases %v: %d of %d accounts ran", releases, ran, len(todo))
		}
		if maxData > n || maxFlight > 2*n {
			t.Errorf("releases %v: %d in the data stages and %d in flight at once, want at most %d and %d", releases, maxData, maxFlight, n, 2*n)
		}
		if releases && maxFlight <= n {
			t.Errorf("with releases, at most %d in flight: the tails did not overlap the next accounts' data", maxFlight)
		}
		if !releases && maxFlight > n {
			t.Errorf("without releases, %d in flight, want at most %d", maxFlight, n)
		}
	}
}

// A cancelled context starts no more accounts.
func TestRunAccountsStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	ran := 0
	runAccounts(ctx, []int{0, 1, 2, 3, 4, 5}, 1, func(i int, release func()) {
		mu.Lock()
		ran++
		mu.Unlock()
		cancel()
	})
	if ran != 1 {
		t.Errorf("%d accounts ran after the first cancelled, want 1", ran)
	}
}
