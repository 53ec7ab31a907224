package main

import (
	"errors"
	"testing"
)

// A state dir without a migration's state is the user's mistake: status,
// watch and plc recover say so, with the flag to check.
func TestLoadStateWithoutStateIsUsageError(t *testing.T) {
	dir := t.TempDir()
	st, err := loadState(dir, "check --state-dir")
	var ue usageError
	if st != nil || !errors.As(err, &ue) {
		t.Fatalf("loadState(empty dir) = %v, %v; want a usage error", st, err)
	}
	if ue.msg != "no migration state in "+dir || ue.hint != "check --state-dir" {
		t.Errorf("usage error = %q (hint %q)", ue.msg, ue.hint)
	}
}
