package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadUpTo(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadUpTo(small, 5); err != nil || string(b) != "12345" {
		t.Errorf("a file at the limit: %q, %v", b, err)
	}
	if _, err := ReadUpTo(small, 4); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "5 bytes, over the limit of 4") {
		t.Errorf("a file over the limit: %v", err)
	}
	if _, err := ReadUpTo(filepath.Join(dir, "none"), 4); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	// A device has no size to check first: it is read up to the limit.
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := ReadUpTo("/dev/zero", 1<<20); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 1048576 bytes") {
			t.Errorf("/dev/zero: %v", err)
		}
	}
}
