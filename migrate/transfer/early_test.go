package transfer

import (
	"sync"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/ui"
)

// recordingProgress keeps the transfer events it is given.
type recordingProgress struct {
	ui.NopProgress
	mu     sync.Mutex
	events []string
	bytes  int64
}

func (r *recordingProgress) Transfer(kind ui.TransferKind, count int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "transfer "+string(kind))
}

func (r *recordingProgress) Advance(kind ui.TransferKind, items int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "advance "+string(kind))
	r.bytes += bytes
}

func (r *recordingProgress) Info(string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "info")
}

func TestHeldProgressHoldsTransfersUntilReleased(t *testing.T) {
	rec := &recordingProgress{}
	h := &heldProgress{Progress: rec}
	h.Transfer(ui.TransferRepoDownload, 1, -1)
	for range 10 {
		h.Advance(ui.TransferRepoDownload, 0, 100)
	}
	h.Advance(ui.TransferRepoDownload, 0, -300) // a restarted stream
	h.Info("passes straight through")
	if len(rec.events) != 1 || rec.events[0] != "info" {
		t.Fatalf("before release: %v, want only the info", rec.events)
	}
	h.release()
	h.Advance(ui.TransferRepoDownload, 1, 50)
	want := []string{"info", "transfer repo download", "advance repo download", "advance repo download"}
	if len(rec.events) != len(want) {
		t.Fatalf("events %v, want %v", rec.events, want)
	}
	for i := range want {
		if rec.events[i] != want[i] {
			t.Fatalf("events %v, want %v", rec.events, want)
		}
	}
	if rec.bytes != 750 {
		t.Errorf("bytes passed on: %d, want 750", rec.bytes)
	}
}

func TestHeldProgressReleaseWithoutTransfer(t *testing.T) {
	rec := &recordingProgress{}
	h := &heldProgress{Progress: rec}
	h.release()
	if len(rec.events) != 0 {
		t.Fatalf("release of nothing sent %v", rec.events)
	}
	h.Transfer(ui.TransferRepoDownload, 1, 10)
	if len(rec.events) != 1 || rec.events[0] != "transfer repo download" {
		t.Fatalf("after release: %v, want the transfer passed on", rec.events)
	}
}
