package transfer

import (
	"context"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/repo"
)

func TestDiskBudgetWaitsForRoom(t *testing.T) {
	b := newDiskBudget(100)
	b.add("a", 60)
	b.add("a", 60) // the same blob counts once
	if err := b.waitRoom(context.Background(), 40); err != nil {
		t.Fatal(err)
	}
	b.add("b", 40)
	got := make(chan error, 1)
	go func() { got <- b.waitRoom(context.Background(), 30) }()
	select {
	case err := <-got:
		t.Fatalf("30 more bytes fit in a full budget: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.remove("a")
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("still waiting after a blob was removed")
	}
	if b.Peak() != 100 {
		t.Errorf("peak %d, want 100", b.Peak())
	}
	// A blob larger than the whole budget goes alone once nothing is held.
	b.remove("b")
	if err := b.waitRoom(context.Background(), 500); err != nil {
		t.Fatal(err)
	}
	// Waiting honours cancellation.
	b.add("c", 100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.waitRoom(ctx, 10); err == nil {
		t.Error("waitRoom ignored a cancelled context")
	}
	var none *diskBudget
	if none.waitRoom(ctx, 1) != nil || none.Peak() != 0 {
		t.Error("a nil budget must not limit anything")
	}
}

func TestPrefetchListOnResume(t *testing.T) {
	refs := []repo.BlobRef{{CID: "a", Size: 1}, {CID: "b", Size: 2}, {CID: "c", Size: 3}}
	st := &checkpoint.State{Stages: map[stage.Stage]*checkpoint.StageStatus{}}
	j := checkpoint.NewJournal("", st)
	list := NewList("", j)
	if err := list.Set(refs); err != nil {
		t.Fatal(err)
	}
	b := NewBlobs(Config{Journal: j, Limits: &Limits{Journal: j}}, list)
	if got := b.prefetchList(); len(got) != 3 {
		t.Errorf("first run prefetches %d blobs, want all 3", len(got))
	}
	// After a check of the new PDS, only what it lacked: the rest were
	// uploaded and their copies deleted.
	st.Blobs.Missing = []string{"c"}
	if got := b.prefetchList(); len(got) != 1 || got[0].CID != "c" {
		t.Errorf("resumed run prefetches %v, want only c", got)
	}
	st.Blobs.Missing = nil
	st.Stage(stage.Blobs).Done = true
	if got := b.prefetchList(); len(got) != 0 {
		t.Errorf("after the blobs stage, prefetches %v", got)
	}
}

func TestDiskFloor(t *testing.T) {
	refs := []repo.BlobRef{{CID: "a", Size: 5}, {CID: "b", Size: 50}, {CID: "c", Size: 20}, {CID: "d", Size: -1}}
	if got := DiskFloor(refs, 2); got != 2*4096 {
		t.Errorf("floor %d, want the two largest (50+20), a disk block each", got)
	}
}
