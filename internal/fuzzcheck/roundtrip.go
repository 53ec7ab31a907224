package fuzzcheck

import (
	"bytes"
	"encoding/json"
	"testing"
)

// RoundTrip writes v to a new directory with save, reads it back with
// load, and fails t unless the two are the same, compared as JSON: what a
// loader accepts, its writer must write back as it was.
func RoundTrip[T any](t testing.TB, what string, v T, save func(dir string, v T) error, load func(dir string) (T, error)) {
	t.Helper()
	dir := t.TempDir()
	if err := save(dir, v); err != nil {
		t.Fatalf("an accepted %s does not save: %v", what, err)
	}
	back, err := load(dir)
	if err != nil {
		t.Fatalf("a saved %s does not load: %v", what, err)
	}
	want, _ := json.Marshal(v)
	got, _ := json.Marshal(back)
	if !bytes.Equal(want, got) {
		t.Fatalf("saved and loaded back, the %s changed:\n%s\n%s", what, want, got)
	}
}
