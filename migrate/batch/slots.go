package batch

import (
	"context"
	"slices"
	"sync"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// A batch's accounts share the servers in two pools. The data stages
// (login to blobs) are the servers' CPU work: --parallel-accounts accounts
// hold a data slot for them. From the preferences on, an account's stages
// are a few dozen small requests, each waiting on a round trip (and the
// identity step on the PLC directory): the account hands its data slot to
// the next account then, so the servers do not idle while those requests
// wait. At most twice --parallel-accounts accounts are in flight.

// tailStages are the stages after the data: an account that starts one
// gives up its data slot.
var tailStages = stage.All[slices.Index(stage.All, stage.Preferences):]

// runAccounts calls run for each of todo, at most n holding a data slot
// and 2n in flight. run calls release (at most once matters) when its
// account leaves the data stages; its return releases the rest. Once ctx
// ends no new account starts.
func runAccounts(ctx context.Context, todo []int, n int, run func(i int, release func())) {
	n = max(n, 1)
	data, flight := make(chan struct{}, n), make(chan struct{}, 2*n)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, i := range todo {
		select {
		case flight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		select {
		case data <- struct{}{}:
		case <-ctx.Done():
			<-flight
			return
		}
		if ctx.Err() != nil { // both were ready: select picked at random
			<-data
			<-flight
			return
		}
		var once sync.Once
		release := func() { once.Do(func() { <-data }) }
		wg.Go(func() {
			defer func() { release(); <-flight }()
			run(i, release)
		})
	}
}
