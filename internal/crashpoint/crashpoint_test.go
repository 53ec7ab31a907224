//go:build e2e

// The crash points' own tests need the e2e build, where they exist
// (go test -tags e2e, as make test and make test-unit run it);
// crashpoint_release_test.go checks the release build's no-op.

package crashpoint

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

func TestLoadCrashPoints(t *testing.T) {
	t.Setenv(crashEnv, " start:blobs, blob-uploaded#7,,plc-submitted#0 ,import-sent#x ")
	loadCrashPoints()
	t.Cleanup(func() { crashPoints = map[string]int{} })
	want := map[string]int{"start:blobs": 1, "blob-uploaded": 7, "plc-submitted": 1, "import-sent": 1}
	if len(crashPoints) != len(want) {
		t.Fatalf("crash points %v, want %v", crashPoints, want)
	}
	for k, v := range want {
		if crashPoints[k] != v {
			t.Errorf("%s: %d hits before the kill, want %d", k, crashPoints[k], v)
		}
	}

	t.Setenv(crashEnv, "")
	loadCrashPoints()
	if len(crashPoints) != 0 {
		t.Errorf("unset env gave crash points %v", crashPoints)
	}
}

// TestCrashPointCountsDown checks that point#n lets n-1 passes through;
// the kill itself is TestCrashPointKills's.
func TestCrashPointCountsDown(t *testing.T) {
	crashOnce.Do(func() {}) // the env is not read again below
	crashMu.Lock()
	crashPoints = map[string]int{"blob-uploaded": 3, "start:blobs": 2}
	crashMu.Unlock()
	t.Cleanup(func() { crashPoints = map[string]int{} })
	At("blob-uploaded")
	At("blob-uploaded")
	At("other")
	AtStage("start", "blobs")
	if n := crashPoints["blob-uploaded"]; n != 1 {
		t.Errorf("after two passes %d hits are left, want 1", n)
	}
	if n := crashPoints["start:blobs"]; n != 1 {
		t.Errorf("AtStage(start, blobs): %d hits are left of start:blobs, want 1", n)
	}
}

// TestCrashPointKills runs this test binary as a child that passes a crash
// point twice: with #2 it must die of SIGKILL, with #3 it must live.
func TestCrashPointKills(t *testing.T) {
	if os.Getenv("ATMIGRATE_CRASH_CHILD") == "1" {
		At("p")
		At("p")
		os.Exit(0)
	}
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is unix")
	}
	for _, tc := range []struct {
		env    string
		killed bool
	}{{"p#2", true}, {"p#3", false}, {"q", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashPointKills$")
		cmd.Env = append(os.Environ(), "ATMIGRATE_CRASH_CHILD=1", crashEnv+"="+tc.env)
		err := cmd.Run()
		var ee *exec.ExitError
		killed := false
		if errors.As(err, &ee) {
			ws, _ := ee.Sys().(syscall.WaitStatus)
			killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
		} else if err != nil {
			t.Fatal(err)
		}
		if killed != tc.killed {
			t.Errorf("%s=%s: killed %v (%v), want %v", crashEnv, tc.env, killed, err, tc.killed)
		}
	}
}
