package failure

import (
	"strings"
	"testing"
	"time"
)

func TestRateLimitErrorWords(t *testing.T) {
	reset := time.Now().Add(23*time.Hour + 59*time.Minute + 10*time.Second)
	e := &RateLimitError{Host: "https://new.example", Method: "com.atproto.repo.uploadBlob", Reset: reset, Left: 12, What: "blob uploads", NewPDS: true}
	for _, want := range []string{"no more com.atproto.repo.uploadBlob calls", "in 23h59m", "12 blob uploads left", "state is kept"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("%q lacks %q", e.Error(), want)
		}
	}
	if h := Hint(e); !strings.Contains(h, "{ratelimit-bypass-key}") || !strings.Contains(h, reset.UTC().Format("15:04")) {
		t.Errorf("hint %q", h)
	}
	e.NewPDS = false
	if strings.Contains(Hint(e), "bypass") {
		t.Error("the bypass key is offered for a server it does not belong to")
	}
	for d, want := range map[time.Duration]string{20 * time.Second: "under a minute", 12 * time.Minute: "12m", 25*time.Hour + 3*time.Minute: "25h03m"} {
		if got := UntilWords(d); got != want {
			t.Errorf("untilWords(%s) = %q, want %q", d, got, want)
		}
	}
}
