package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// blobSource serves blobs from memory and counts the fetches.
type blobSource struct {
	blobs   map[string][]byte
	mu      sync.Mutex
	fetches int
}

func (s *blobSource) Name() string { return "memory" }
func (s *blobSource) ExportRepo(context.Context, string, string, io.Writer, func(int64)) (int64, error) {
	return 0, nil
}
func (s *blobSource) LatestCommit(context.Context) (string, string, error) { return "", "", nil }
func (s *blobSource) Preferences(context.Context) (json.RawMessage, error) { return nil, nil }
func (s *blobSource) FetchBlob(_ context.Context, cid string, fn func(io.Reader, int64, string) error) error {
	s.mu.Lock()
	s.fetches++
	s.mu.Unlock()
	b := s.blobs[cid]
	return fn(bytes.NewReader(b), int64(len(b)), "image/png")
}

type warnings struct {
	ui.NopProgress
	mu   sync.Mutex
	list []string
}

func (w *warnings) Warn(msg string) {
	w.mu.Lock()
	w.list = append(w.list, msg)
	w.mu.Unlock()
}

// A blob file an earlier run left behind is hashed again before it is
// used; a damaged one is deleted and fetched again, never uploaded.
func TestFetcherRechecksLeftoverCopies(t *testing.T) {
	good, bad := []byte("a blob that survived the crash"), []byte("a blob the crash damaged")
	goodCID, badCID := fakenet.BlobCID(good), fakenet.BlobCID(bad)
	store, err := repo.OpenBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{good, bad} {
		if _, err := store.Write(fakenet.BlobCID(b), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	// Same length, other bytes: what a file can hold after a power cut.
	if err := os.WriteFile(store.Path(badCID), bytes.Repeat([]byte{0}, len(bad)), 0o600); err != nil {
		t.Fatal(err)
	}
	src := &blobSource{blobs: map[string][]byte{goodCID: good, badCID: bad}}
	prog := &warnings{}
	f := newBlobFetcher(src, store, prog, 2)
	f.recheck = true
	for _, c := range []string{goodCID, badCID} {
		if err := f.Get(context.Background(), c, -1); err != nil {
			t.Fatalf("get %s: %v", c, err)
		}
		if err := store.Verify(c); err != nil {
			t.Errorf("after Get, %s does not verify: %v", c, err)
		}
	}
	if src.fetches != 1 {
		t.Errorf("%d fetches, want 1 (the damaged blob only)", src.fetches)
	}
	if len(prog.list) != 1 || !strings.Contains(prog.list[0], badCID) || !strings.Contains(prog.list[0], "damaged") {
		t.Errorf("warnings %q, want one naming the damaged blob", prog.list)
	}
	// Checked once per run: a second Get reads nothing again.
	if err := f.Get(context.Background(), badCID, -1); err != nil || src.fetches != 1 {
		t.Errorf("second Get: %v, %d fetches", err, src.fetches)
	}
}

// A backup's files are never deleted by the fetcher: it does not re-check
// them (the whole backup was verified when it was opened).
func TestFetcherLeavesBackupCopiesAlone(t *testing.T) {
	b := []byte("backup blob")
	c := fakenet.BlobCID(b)
	store, err := repo.OpenBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.Path(c), []byte("XXXXXXXXXXX"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newBlobFetcher(&blobSource{}, store, &warnings{}, 1)
	if err := f.Get(context.Background(), c, -1); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.Has(c); !ok {
		t.Errorf("the backup's file was removed")
	}
}
