package transfer

import (
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/repo"
)

func TestOversized(t *testing.T) {
	refs := []repo.BlobRef{{CID: "a", Size: 10}, {CID: "b", Size: 30}, {CID: "c", Size: -1}, {CID: "d", Size: 20}}
	got := Oversized(refs, 15)
	if len(got) != 2 || got[0].CID != "b" || got[1].CID != "d" {
		t.Fatalf("oversized %+v: want b then d, largest first", got)
	}
	if Oversized(refs, 0) != nil {
		t.Error("an unreported limit (0) made blobs oversized")
	}
}

func TestOversizedErrorSaysWhatToChange(t *testing.T) {
	err := OversizedError("https://new.example", []repo.BlobRef{{CID: "bafkbig", Size: 6_300_000, MimeType: "video/mp4"}}, 5<<20)
	for _, want := range []string{"bafkbig", "6.3 MB", "5.2 MB", "could never be uploaded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, want := range []string{"PDS_BLOB_UPLOAD_LIMIT", "{skip-oversized-blobs}", "nothing was written"} {
		if !strings.Contains(failure.Hint(err), want) {
			t.Errorf("hint %q lacks %q", failure.Hint(err), want)
		}
	}
	if strings.Contains(failure.Hint(err), "run the same command again") {
		t.Errorf("hint %q promises a re-run helps", failure.Hint(err))
	}
}
