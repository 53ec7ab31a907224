//go:build unix

package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
)

// Running tells a state dir a run holds from one left behind, and never
// creates the lock file itself.
func TestRunning(t *testing.T) {
	dir := t.TempDir()
	if _, ok := Running(dir); ok {
		t.Fatal("a fresh dir reads as running")
	}
	if _, err := os.Stat(filepath.Join(dir, lockFileName)); err == nil {
		t.Fatal("Running created the lock file")
	}
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := Running(dir); !ok || pid != os.Getpid() {
		t.Errorf("while locked: pid %d, running %v; want %d, true", pid, ok, os.Getpid())
	}
	unlock()
	if _, ok := Running(dir); ok {
		t.Error("after unlock: still running")
	}
}
