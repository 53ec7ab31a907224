//go:build e2e

// The crash points exist only in builds made with -tags e2e (the
// end-to-end tests' and the bench's); crashpoint_release.go is the release
// build's no-op, so a release binary neither reads ATMIGRATE_TEST_CRASH_AT
// nor can be made to kill itself by it.

package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// crashEnv names crash points for the kill tests: a comma-separated list
// of point[#n] (the nth time the point is reached, default the first).
// When one is reached the process SIGKILLs itself, exactly as an admin's
// kill -9 would, at a place a timer could not hit reliably (between the
// PLC submission and the checkpoint that records it, say). Unset, it costs
// an atomic load and a length check per point.
const crashEnv = "ATMIGRATE_TEST_CRASH_AT"

var (
	crashOnce   sync.Once
	crashMu     sync.Mutex
	crashPoints map[string]int // point -> remaining hits before the kill
)

func loadCrashPoints() {
	crashPoints = map[string]int{}
	for _, p := range strings.Split(os.Getenv(crashEnv), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, nth, _ := strings.Cut(p, "#")
		n, err := strconv.Atoi(nth)
		if err != nil || n < 1 {
			n = 1
		}
		crashPoints[name] = n
	}
}

// At kills the process if the test environment asks for it here.
func At(name string) {
	crashOnce.Do(loadCrashPoints)
	if len(crashPoints) == 0 {
		return
	}
	crashMu.Lock()
	n, ok := crashPoints[name]
	if ok {
		n--
		crashPoints[name] = n
	}
	crashMu.Unlock()
	if ok && n == 0 {
		killSelf()
	}
}

// AtStage is the crash point when:stage (start:blobs, say). It
// takes the parts, not the joined name, so that the release build's no-op
// does not pay for the concatenation.
func AtStage(when, stage string) { At(when + ":" + stage) }
