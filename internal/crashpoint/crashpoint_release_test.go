//go:build !e2e

package crashpoint

import (
	"os"
	"os/exec"
	"testing"
)

// TestCrashPointReleaseIsNoOp runs this test binary as a child that passes
// crash points the environment names: in the release build it must live.
// (cmd/atmigrate's TestReleaseBinaryHasNoTestHooks checks that the binary
// does not even contain the variable's name.)
func TestCrashPointReleaseIsNoOp(t *testing.T) {
	if os.Getenv("ATMIGRATE_CRASH_CHILD") == "1" {
		At("p")
		AtStage("start", "blobs")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashPointReleaseIsNoOp$")
	cmd.Env = append(os.Environ(), "ATMIGRATE_CRASH_CHILD=1", "ATMIGRATE_TEST_CRASH_AT=p,start:blobs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the release build's crash points killed the child: %v\n%s", err, out)
	}
}
