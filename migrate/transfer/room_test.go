package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/repo"
)

func TestDiskRoom(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name                   string
		room                   DiskRoom
		blobRoom, window, most int64
		fits                   bool
	}{
		{"a large disk: the budget bounds the window",
			DiskRoom{Known: true, Free: 1000 * mb, Headroom: 2 * mb, Largest: mb, Floor: 4 * mb, Budget: 256 * mb},
			998 * mb, 256 * mb, 260 * mb, true},
		{"a small disk: the window is what is left beside the headroom and the uploads",
			DiskRoom{Known: true, Free: 12 * mb, Headroom: 2 * mb, Largest: mb / 8, Floor: mb / 2, Budget: 256 * mb},
			10 * mb, 10*mb - mb/2, 10 * mb, true},
		{"blob copies already there are the run's own room",
			DiskRoom{Known: true, Free: 1 * mb, OwnBlobs: 3 * mb, Headroom: mb, Largest: mb, Floor: 2 * mb, Budget: 256 * mb},
			3 * mb, 1 * mb, 3 * mb, true},
		{"uploads in flight that do not fit at once take turns",
			DiskRoom{Known: true, Free: 3 * mb, Headroom: mb, Largest: mb, Floor: 4 * mb, Budget: 256 * mb},
			2 * mb, 0, 2 * mb, true},
		{"the largest blob does not fit beside the headroom",
			DiskRoom{Known: true, Free: 3 * mb, Headroom: 2 * mb, Largest: 2 * mb, Floor: 2 * mb, Budget: 256 * mb},
			mb, 0, mb, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.room
			if r.BlobRoom() != tc.blobRoom || r.Window() != tc.window || r.MostBlobs() != tc.most || r.Fits() != tc.fits {
				t.Errorf("room %d, window %d, most %d, fits %v; want %d, %d, %d, %v",
					r.BlobRoom(), r.Window(), r.MostBlobs(), r.Fits(), tc.blobRoom, tc.window, tc.most, tc.fits)
			}
		})
	}
	if r := (DiskRoom{Budget: 5}); r.Window() != 5 || !r.Fits() {
		t.Errorf("free space unknown: window %d, fits %v; want the budget, and no refusal", r.Window(), r.Fits())
	}
}

// The up-front refusal: said before anything is written (bad input, exit
// 2), or as a stop to resume once the new PDS holds the account; it names
// what the disk has and what the run needs.
func TestDiskRoomRefusal(t *testing.T) {
	r := DiskRoom{Known: true, Free: 1 << 20, Headroom: 700 << 10, Largest: 500_000}
	var ie *failure.InputError
	err := r.refusal("/state", false)
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "the largest blob, 0.5 MB") || !strings.Contains(ie.Hint, "nothing was written") {
		t.Errorf("unbound: got %v (hint %q), want bad input naming the largest blob", err, hintOf(ie))
	}
	var se *failure.StageError
	if err := r.refusal("/state", true); !errors.As(err, &se) {
		t.Errorf("bound: got %v, want a stage error to resume", err)
	}
	r.Free = 2 << 20
	if err := r.refusal("/state", false); err != nil {
		t.Errorf("the largest blob fits: %v", err)
	}
}

func hintOf(ie *failure.InputError) string {
	if ie == nil {
		return ""
	}
	return ie.Hint
}

// The room a run measures counts its own files: the blob copies an
// earlier run left are its room, the repo is headroom again (the
// catch-up's copy), and the state grows with the blob count.
func TestDiskRoomCountsTheRunsOwnFiles(t *testing.T) {
	dir := t.TempDir()
	st := &checkpoint.State{Stages: map[stage.Stage]*checkpoint.StageStatus{}}
	st.Repo.Bytes = 600_000
	j := checkpoint.NewJournal("", st)
	list := NewList("", j)
	refs := []repo.BlobRef{{CID: "a", Size: 90_000}, {CID: "b", Size: 120_000}}
	if err := list.Set(refs); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "a"), make([]byte, 90_000), 0o600); err != nil {
		t.Fatal(err)
	}
	b := NewBlobs(Config{Dir: dir, Journal: j, Limits: &Limits{Journal: j}, Concurrency: 4, DiskBudget: 1 << 30}, list)
	r := b.diskRoom()
	if r.OwnBlobs < 90_000 {
		t.Errorf("own blobs %d, want the 90,000-byte copy counted", r.OwnBlobs)
	}
	if r.Headroom != Headroom(600_000, 2) || r.Headroom < diskuse.OnDisk(600_000)+headroomSlack {
		t.Errorf("headroom %d, want the repo again, the state twice and the slack", r.Headroom)
	}
	if r.Largest != 120_000 || r.Floor != diskuse.OnDisk(90_000)+diskuse.OnDisk(120_000) {
		t.Errorf("largest %d, floor %d", r.Largest, r.Floor)
	}
}

// A worker past the room drops the blob fetched ahead most recently that
// no worker uses, never a pinned one.
func TestAdmitDropsTheLatestUnpinnedBlob(t *testing.T) {
	b := newDiskBudget(0)
	b.room = 300
	var dropped []string
	b.drop = func(c string) error { dropped = append(dropped, c); return nil }
	b.add("first", 100)
	b.add("pinned", 100)
	b.add("latest", 100)
	unpin := b.pin("pinned")
	defer unpin()
	l, err := b.admit(context.Background(), "new", 150, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(dropped, ",") != "latest,first" {
		t.Errorf("dropped %v, want latest then first (pinned kept)", dropped)
	}
	b.done(l)
}

// A save of the state on a full disk asks the budget for room: it drops
// blobs fetched ahead, the latest first, never a pinned one, until the
// room asked for is free, and says whether it freed any.
func TestReleaseFreesRoomForTheState(t *testing.T) {
	b := newDiskBudget(1000)
	var dropped []string
	b.drop = func(c string) error { dropped = append(dropped, c); return nil }
	b.add("first", 100)
	b.add("pinned", 100)
	b.add("second", 100)
	b.add("latest", 100)
	unpin := b.pin("pinned")
	defer unpin()
	if !b.release(150) {
		t.Fatal("release freed nothing")
	}
	if strings.Join(dropped, ",") != "latest,second" || b.used != 200 {
		t.Errorf("dropped %v (used %d), want latest then second, 200 left", dropped, b.used)
	}
	if !b.release(1000) || strings.Join(dropped, ",") != "latest,second,first" {
		t.Errorf("dropped %v, want first too, the pinned blob kept", dropped)
	}
	if b.release(1) {
		t.Error("release with only a pinned blob left reported room made")
	}
	var kept *diskBudget // --keep-data: no budget drops anything
	if kept.release(1) {
		t.Error("a nil budget made room")
	}
}

// A download that meets a full disk makes the shrink true at once: blobs
// fetched ahead go until the run's blobs fit the new room, so the disk is
// not left full to the byte while no upload runs (during the import).
func TestDiskFullDropsAtOnce(t *testing.T) {
	b := newDiskBudget(1000)
	b.room = 1000
	var dropped []string
	b.drop = func(c string) error { dropped = append(dropped, c); return nil }
	for _, c := range []string{"a", "b", "c", "d"} {
		b.add(c, 100)
	}
	l, err := b.admit(context.Background(), "e", 100, true)
	if err != nil {
		t.Fatal(err)
	}
	b.diskFull(l) // the disk held a-d (400): room is 400 less one blob
	b.done(l)
	if b.room != 300 || b.used > b.room || len(dropped) != 1 {
		t.Errorf("room %d, used %d, dropped %v: want 300, at most 300, one blob dropped", b.room, b.used, dropped)
	}
}
