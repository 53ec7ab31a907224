package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/timeline"
)

func TestWriteTimeline(t *testing.T) {
	dir := t.TempDir()
	tl := &timeline.Timeline{Title: "atmigrate test migrate: done", Duration: 1,
		Stages: []timeline.Span{{Name: "login", Start: 0, End: 1, State: "done"}}}
	svg := filepath.Join(dir, "run.svg")
	if err := writeTimeline(svg, tl); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(svg)
	if !strings.HasPrefix(string(b), "<?xml") || !strings.Contains(string(b), "login") {
		t.Errorf("svg: %.200s", b)
	}
	js := filepath.Join(dir, "run.JSON")
	if err := writeTimeline(js, tl); err != nil {
		t.Fatal(err)
	}
	var back timeline.Timeline
	if b, _ := os.ReadFile(js); json.Unmarshal(b, &back) != nil || back.Title != tl.Title {
		t.Errorf("json: %s", b)
	}
	if err := writeTimeline(filepath.Join(dir, "missing", "run.svg"), tl); err == nil {
		t.Error("a file in a missing directory was written")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestTimelineOutcome(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                    "done",
		fmt.Errorf("x: %w", failure.ErrPaused): "paused (exit 3)",
		context.Canceled:                       "interrupted",
		fmt.Errorf("did:plc:secret at https://pds.example: boom"): "stopped with an error",
	} {
		if got := outcome(err); got != want {
			t.Errorf("outcome(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestServerVersions(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/_health" {
			w.Write([]byte(`{"version":"0.4.217"}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer ok.Close()
	none := httptest.NewServer(http.NotFoundHandler())
	defer none.Close()
	got := serverVersions(map[string]string{"new PDS": ok.URL + "/", "old PDS": none.URL, "other": ""})
	if len(got) != 1 || got["new PDS"] != "version 0.4.217" {
		t.Errorf("versions %v", got)
	}
}
