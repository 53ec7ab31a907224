package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
)

func TestSourceExportRepo(t *testing.T) {
	f := newBackupFixture(t, true)
	rep, err := Verify(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	src := NewSource(rep)
	if src.Key().DIDKey() != fakenet.DIDKey(t, f.sigKey) {
		t.Fatalf("source key %s, want the repo's signer", src.Key().DIDKey())
	}
	out := filepath.Join(t.TempDir(), "repo.car")
	var tee bytes.Buffer
	var counted int64
	n, err := src.ExportRepo(context.Background(), "", out, &tee, func(k int64) { counted += k })
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(f.dir, RepoFile))
	got, _ := os.ReadFile(out)
	if n != int64(len(orig)) || counted != n || !bytes.Equal(got, orig) || !bytes.Equal(tee.Bytes(), orig) {
		t.Fatalf("copied %d (counted %d) of %d bytes", n, counted, len(orig))
	}
	if _, err := src.ExportRepo(context.Background(), "3abc", out, nil, nil); err == nil {
		t.Fatal("a diff export from a backup should fail")
	}
	cid, rev, _ := src.LatestCommit(context.Background())
	if cid != rep.Manifest.Repo.Commit || rev != rep.Manifest.Repo.Rev {
		t.Fatalf("latest commit %s %s", cid, rev)
	}
}

// A backup without preferences.json restores none: the source gives [].
func TestSourceWithoutPrefs(t *testing.T) {
	f := newBackupFixture(t, false)
	rep, err := Verify(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewSource(rep).Preferences(context.Background())
	if err != nil || string(p) != "[]" {
		t.Fatalf("preferences of a backup without them: %s %v", p, err)
	}
}
