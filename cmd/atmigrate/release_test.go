package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// testHooks are the environment variables the test and bench hooks read,
// the strings a binary carrying a hook cannot do without.
var testHooks = []string{
	"ATMIGRATE_TEST_CRASH_AT",       // migrate/crashpoint.go: the kill tests' crash points
	"ATMIGRATE_BENCH_REQUESTS_FILE", // bench_hooks.go: the bench's request count
}

// hookName is the naming rule for such variables: a new hook named like
// the others is caught even before it is added to testHooks.
var hookName = regexp.MustCompile(`ATMIGRATE_(TEST|BENCH)_[A-Z0-9_]+`)

// TestReleaseBinaryHasNoTestHooks builds the binary as `go build
// ./cmd/atmigrate` (and make build) do, and as the end-to-end tests and the
// bench do (-tags e2e). The release build must contain no hook; the e2e
// build must contain every one, which shows that the search would find
// them (a renamed variable fails here rather than passing unseen).
func TestReleaseBinaryHasNoTestHooks(t *testing.T) {
	dir := t.TempDir()
	release := buildBinary(t, filepath.Join(dir, "release"))
	tagged := buildBinary(t, filepath.Join(dir, "e2e"), "-tags", "e2e")
	for _, h := range testHooks {
		if !bytes.Contains(tagged, []byte(h)) {
			t.Errorf("the -tags e2e build does not contain %s: was the hook renamed? Update testHooks", h)
		}
		if bytes.Contains(release, []byte(h)) {
			t.Errorf("the release build contains the test hook %s: put it in a //go:build e2e file", h)
		}
	}
	for _, h := range hookName.FindAll(release, -1) {
		t.Errorf("the release build contains %s, named like a test hook: put it in a //go:build e2e file", h)
	}
}

// buildBinary builds this package into path with the extra go build flags
// and returns the binary's bytes.
func buildBinary(t *testing.T, path string, flags ...string) []byte {
	t.Helper()
	args := append(append([]string{"build"}, flags...), "-o", path, ".")
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
