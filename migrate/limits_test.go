package migrate

import (
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/repo"
)

func TestOversized(t *testing.T) {
	refs := []repo.BlobRef{{CID: "a", Size: 10}, {CID: "b", Size: 30}, {CID: "c", Size: -1}, {CID: "d", Size: 20}}
	got := oversized(refs, 15)
	if len(got) != 2 || got[0].CID != "b" || got[1].CID != "d" {
		t.Fatalf("oversized %+v: want b then d, largest first", got)
	}
	if oversized(refs, 0) != nil {
		t.Error("an unreported limit (0) made blobs oversized")
	}
}

func TestOversizedErrorSaysWhatToChange(t *testing.T) {
	err := oversizedError("https://new.example", []repo.BlobRef{{CID: "bafkbig", Size: 6_300_000, MimeType: "video/mp4"}}, 5<<20)
	for _, want := range []string{"bafkbig", "6.3 MB", "5.2 MB", "could never be uploaded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, want := range []string{"PDS_BLOB_UPLOAD_LIMIT", "--skip-oversized-blobs", "nothing was written"} {
		if !strings.Contains(failure.Hint(err), want) {
			t.Errorf("hint %q lacks %q", failure.Hint(err), want)
		}
	}
	if strings.Contains(failure.Hint(err), "run the same command again") {
		t.Errorf("hint %q promises a re-run helps", failure.Hint(err))
	}
}

func TestRateLimitErrorWords(t *testing.T) {
	reset := time.Now().Add(23*time.Hour + 59*time.Minute + 10*time.Second)
	e := &failure.RateLimitError{Host: "https://new.example", Method: "com.atproto.repo.uploadBlob", Reset: reset, Left: 12, What: "blob uploads", NewPDS: true}
	for _, want := range []string{"no more com.atproto.repo.uploadBlob calls", "in 23h59m", "12 blob uploads left", "state is kept"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("%q lacks %q", e.Error(), want)
		}
	}
	if h := failure.Hint(e); !strings.Contains(h, "--ratelimit-bypass-key") || !strings.Contains(h, reset.UTC().Format("15:04")) {
		t.Errorf("hint %q", h)
	}
	e.NewPDS = false
	if strings.Contains(failure.Hint(e), "bypass") {
		t.Error("the bypass key is offered for a server it does not belong to")
	}
	for d, want := range map[time.Duration]string{20 * time.Second: "under a minute", 12 * time.Minute: "12m", 25*time.Hour + 3*time.Minute: "25h03m"} {
		if got := failure.UntilWords(d); got != want {
			t.Errorf("untilWords(%s) = %q, want %q", d, got, want)
		}
	}
}
