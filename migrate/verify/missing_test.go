package verify

import (
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
)

// Blobs left behind at the user's request warn, naming them with their
// sizes; any other missing blob fails.
func TestMissingWithLeftBehind(t *testing.T) {
	left := []checkpoint.LeftBlob{{CID: "bafkbig", Size: 6_000_000}}
	r := &Report{}
	verifyMissing(r, []string{"bafkbig"}, left)
	if c := r.Checks[0]; !c.OK || !c.Warn || !strings.Contains(c.Detail, "bafkbig (6.0 MB)") {
		t.Errorf("only the blob left behind missing: %+v, want a warning naming it", c)
	}
	r = &Report{}
	verifyMissing(r, []string{"bafkbig", "bafkother"}, left)
	if c := r.Checks[0]; c.OK || !strings.Contains(c.Detail, "bafkother") || strings.Contains(c.Detail, "bafkbig") {
		t.Errorf("another blob missing too: %+v, want a failure naming only it", c)
	}
	r = &Report{}
	verifyMissing(r, nil, left)
	if c := r.Checks[0]; !c.OK || c.Warn {
		t.Errorf("nothing missing: %+v", c)
	}
}
