package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/migrate/timeline"
)

// TestDownloadAhead checks when the blobs start downloading, from each
// run's own timeline: with --download-ahead uploads no blob is fetched
// from the old PDS before the import has ended, so the import has the
// machine to itself; with import (the default), the downloads begin while
// the new PDS imports. Each run goes as far as
// the pause for the PLC token (exit 3), after the blobs.
func TestDownloadAhead(t *testing.T) {
	net := sharedNet(t)
	for _, mode := range []string{"uploads", "import"} {
		t.Run(mode, func(t *testing.T) {
			acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("ahead"), Posts: 200, Blobs: 12, BlobMinBytes: 20_000, BlobMaxBytes: 40_000})
			env := migrateEnv(net, acct)
			env["ATMIGRATE_DOWNLOAD_AHEAD"] = mode
			tlFile := filepath.Join(t.TempDir(), "run.json")
			r := atmigrate(t, env, "migrate", "--state-dir", t.TempDir(), "--yes", "--timeline", tlFile)
			if r.code != 3 {
				t.Fatalf("want the pause for the PLC token (exit 3)\n%s", r)
			}
			raw, err := os.ReadFile(tlFile)
			if err != nil {
				t.Fatal(err)
			}
			var tl timeline.Timeline
			if err := json.Unmarshal(raw, &tl); err != nil {
				t.Fatal(err)
			}
			importEnd := -1.0
			for _, q := range tl.Reqs {
				if q.Call == "com.atproto.repo.importRepo" {
					importEnd = q.End
				}
			}
			if importEnd < 0 {
				t.Fatalf("no importRepo in the timeline (%d requests)", len(tl.Reqs))
			}
			before, all := 0, 0
			for _, q := range tl.Reqs {
				if q.Call == "com.atproto.sync.getBlob" && q.Role == "old PDS" {
					all++
					if q.Start < importEnd {
						before++
					}
				}
			}
			if all != 12 {
				t.Fatalf("%d blobs fetched from the old PDS, want 12", all)
			}
			t.Logf("%s: %d of %d blob downloads began before the import ended (at %.3fs)", mode, before, all, importEnd)
			switch {
			case mode == "uploads" && before != 0:
				t.Errorf("uploads: %d downloads began during the import, want none", before)
			case mode == "import" && before == 0:
				t.Errorf("import: no download began during the import")
			}
		})
	}
}
