package timeline

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

var testRoles = Roles{
	OldPDS: "https://old.example.com", NewPDS: "http://127.0.0.1:2583", PLC: "https://plc.directory",
	Relays: []string{"https://bsky.network"}, AppView: "https://api.bsky.app",
	Versions: map[string]string{RoleNewPDS: "@atproto/pds 0.4.217"},
}

func TestRecorderConcurrentRequests(t *testing.T) {
	r := NewRecorder()
	hosts := []string{"https://old.example.com", "http://127.0.0.1:2583", "https://plc.directory:443", "https://bsky.network", "https://elsewhere.example"}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				now := time.Now()
				r.Observe(pds.RequestEvent{Host: hosts[i%len(hosts)], Method: "com.atproto.sync.getBlob", Start: now, End: now.Add(time.Millisecond), Status: 200, Received: 10})
			}
		}()
	}
	wg.Wait()
	tl := r.Timeline("t", testRoles)
	if len(tl.Reqs) != 2000 {
		t.Fatalf("%d requests, want 2000", len(tl.Reqs))
	}
	count := map[string]int{}
	for i, q := range tl.Reqs {
		count[q.Role]++
		if i > 0 && q.Start < tl.Reqs[i-1].Start {
			t.Fatal("requests not in start order")
		}
	}
	for _, role := range []string{RoleOldPDS, RoleNewPDS, RolePLC, "relay", RoleOther} {
		if count[role] != 400 {
			t.Errorf("%s: %d requests, want 400 (%v)", role, count[role], count)
		}
	}
	raw, _ := json.Marshal(tl)
	for _, h := range []string{"example.com", "127.0.0.1", "plc.directory", "bsky.network"} {
		if strings.Contains(string(raw), h) {
			t.Errorf("the timeline names %s", h)
		}
	}
}

func TestRecorderStages(t *testing.T) {
	r := NewRecorder()
	var inner recordingProgress
	p := r.Progress(&inner)
	p.StageStart(stage.Login)
	p.StageStart(stage.ExportRepo) // overlaps the login
	time.Sleep(5 * time.Millisecond)
	p.StageDone(stage.Login, "ok")
	p.StageSkip(stage.CatchUp, "nothing new")
	p.StageDone(stage.ExportRepo, "ok")
	p.StageStart(stage.Preferences)
	p.StageSkip(stage.Preferences, "done before") // started, then skipped
	p.StageStart(stage.Identity)                  // never finishes
	time.Sleep(5 * time.Millisecond)
	r.Stop()
	tl := r.Timeline("t", Roles{})
	want := map[string]string{"login": "done", "export-repo": "done", "catch-up": "skipped", "preferences": "skipped", "identity": "unfinished"}
	if len(tl.Stages) != len(want) {
		t.Fatalf("stages %+v", tl.Stages)
	}
	for _, s := range tl.Stages {
		if want[s.Name] != s.State {
			t.Errorf("%s: state %s, want %s", s.Name, s.State, want[s.Name])
		}
		if s.End < s.Start {
			t.Errorf("%s ends before it starts", s.Name)
		}
		if s.Name == "identity" && s.End != tl.Duration {
			t.Errorf("an unfinished stage ends with the recording: %v, %v", s.End, tl.Duration)
		}
	}
	if inner.n != 8 {
		t.Errorf("the wrapped progress got %d stage calls, want 8", inner.n)
	}
}

type recordingProgress struct {
	ui.NopProgress
	mu sync.Mutex
	n  int
}

func (p *recordingProgress) StageStart(stage.Stage)        { p.mu.Lock(); p.n++; p.mu.Unlock() }
func (p *recordingProgress) StageDone(stage.Stage, string) { p.mu.Lock(); p.n++; p.mu.Unlock() }
func (p *recordingProgress) StageSkip(stage.Stage, string) { p.mu.Lock(); p.n++; p.mu.Unlock() }

func TestRecorderCPUSamples(t *testing.T) {
	before, ok := processCPU()
	if !ok {
		t.Skip("no process CPU time on this system")
	}
	r := NewRecorder()
	stop := r.SampleCPU(10 * time.Millisecond)
	// Burn 60 ms of CPU, however long a busy machine makes that take.
	deadline := time.Now().Add(20 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ {
		if now, _ := processCPU(); now-before >= 60*time.Millisecond {
			break
		}
	}
	stop()
	stop() // twice is fine
	tl := r.Timeline("t", Roles{})
	if len(tl.CPU) != 1 || len(tl.CPU[0].Samples) < 1 {
		t.Fatalf("cpu lanes %+v", tl.CPU)
	}
	used, prev := 0.0, 0.0
	for i, s := range tl.CPU[0].Samples {
		if s.Cores < 0 || s.At < prev {
			t.Fatalf("bad sample %d: %+v", i, s)
		}
		used += s.Cores * (s.At - prev)
		prev = s.At
	}
	// The samples add up to the CPU burnt (the lane starts a little after
	// the recording: allow for what the sampler did not see).
	if used < 0.04 {
		t.Errorf("the samples add up to %.3f CPU s, want about 0.06 (%+v)", used, tl.CPU[0].Samples)
	}
}

func TestRolesOf(t *testing.T) {
	two := testRoles
	two.Relays = []string{"https://r1.example", "https://r2.example"}
	for host, want := range map[string]string{
		"https://OLD.example.com":   RoleOldPDS,
		"http://127.0.0.1:2583":     RoleNewPDS,
		"https://plc.directory:443": RolePLC,
		"https://r2.example":        "relay 2",
		"https://api.bsky.app":      RoleAppView,
		"https://unknown.example":   RoleOther,
		"":                          RoleOther,
	} {
		if got := two.Of(host); got != want {
			t.Errorf("Of(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestRequestCounts(t *testing.T) {
	tl := sample()
	got := tl.RequestCounts()
	if got["login"][RoleOldPDS] != 1 || got["export-repo"][RoleOldPDS] != 1 || got["blobs"][RoleNewPDS] != 3 || got["identity"][RolePLC] != 1 {
		t.Errorf("counts %v", got)
	}
	var b strings.Builder
	if err := WriteCounts(&b, got, []string{"login", "export-repo", "blobs", "identity"}, []string{RoleOldPDS, RoleNewPDS, RolePLC}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 6 || !strings.HasPrefix(strings.TrimSpace(lines[5]), "total") || !strings.HasSuffix(strings.TrimSpace(lines[5]), "6") {
		t.Errorf("table:\n%s", b.String())
	}
}
