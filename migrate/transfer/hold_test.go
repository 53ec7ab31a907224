package transfer

import (
	"context"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// With HoldAhead (the new PDS on this machine), Start opens the store but
// downloads nothing: the import has the machine to itself. The downloads
// ahead start with the uploads. Without it they start at once.
func TestHoldAheadDefersThePrefetch(t *testing.T) {
	blobs, refs := randomBlobs(t, 6, 1_000)
	for _, hold := range []bool{true, false} {
		st := &checkpoint.State{Stages: map[stage.Stage]*checkpoint.StageStatus{}}
		j := checkpoint.NewJournal("", st)
		list := NewList("", j)
		if err := list.Set(refs); err != nil {
			t.Fatal(err)
		}
		src := &blobSource{blobs: blobs}
		b := NewBlobs(Config{Dir: t.TempDir(), Source: src, Journal: j, Limits: &Limits{Journal: j},
			Concurrency: 4, DiskBudget: 1 << 30, HoldAhead: hold}, list)
		ctx := context.Background()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		fetched := func() int { src.mu.Lock(); defer src.mu.Unlock(); return src.fetches }
		deadline := time.Now().Add(2 * time.Second)
		for !hold && fetched() < len(refs) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if hold {
			time.Sleep(100 * time.Millisecond)
			if n := fetched(); n != 0 {
				t.Fatalf("HoldAhead: %d blobs downloaded before the uploads began, want none", n)
			}
			b.startPrefetch(ctx) // what Copy does first
			for fetched() < len(refs) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		b.Stop()
		if n := fetched(); n != len(refs) {
			t.Errorf("hold %v: %d of %d blobs downloaded ahead", hold, n, len(refs))
		}
	}
}
