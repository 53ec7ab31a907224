package timeline

import (
	"sort"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// Timeline is a recorded run, ready to be drawn or written as JSON. Times
// are seconds from the start of the recording.
type Timeline struct {
	// Title heads the picture ("atmigrate 1.2.0 migrate: stopped, exit 3").
	Title string `json:"title"`
	// Duration is the length of the recording.
	Duration float64 `json:"duration"`
	// Parties names the lanes that have requests, in drawing order, with
	// what is known of each ("new PDS" → "@atproto/pds 0.4.217"); a lane
	// not named here is drawn after them, in name order.
	Parties []Party   `json:"parties,omitempty"`
	Stages  []Span    `json:"stages"`
	Reqs    []Request `json:"requests"`
	CPU     []CPULane `json:"cpu,omitempty"`
	Notes   []string  `json:"notes,omitempty"`
}

// Party is a lane's role and what is known of the server ("" when
// nothing is).
type Party struct {
	Role    string `json:"role"`
	Version string `json:"version,omitempty"`
}

// Span is a stage's time: State is "done", "skipped" (End = Start, or
// the time it took to find there was nothing to do) or "unfinished" (the
// recording ended first).
type Span struct {
	Name  string  `json:"name"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	State string  `json:"state"`
}

// Request is one HTTP exchange, its server named by role.
type Request struct {
	Role     string  `json:"role"`
	Call     string  `json:"call"`
	Start    float64 `json:"start"`
	End      float64 `json:"end"`
	Status   int     `json:"status,omitempty"`
	Sent     int64   `json:"sent,omitempty"`
	Received int64   `json:"received,omitempty"`
	Failed   bool    `json:"failed,omitempty"`
}

// CPULane is a process's CPU over time: each sample is the cores it kept
// busy (CPU seconds per second) from the previous sample's time to At.
type CPULane struct {
	Name    string      `json:"name"`
	Samples []CPUSample `json:"samples"`
}

// CPUSample is one reading of a CPULane.
type CPUSample struct {
	At    float64 `json:"at"`
	Cores float64 `json:"cores"`
}

// Recorder collects a run's events. It is safe for concurrent use; the
// zero value is not usable, call NewRecorder.
type Recorder struct {
	start time.Time

	mu     sync.Mutex
	stages []Span
	reqs   []rawRequest
	cpu    []CPUSample
	end    time.Time // set by Stop
}

// rawRequest keeps the host, which only Timeline turns into a role.
type rawRequest struct {
	host string
	r    Request
}

// NewRecorder starts a recording now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

func (r *Recorder) since(t time.Time) float64 { return t.Sub(r.start).Seconds() }

// Observe records one HTTP exchange; it is a pds.Observer.
func (r *Recorder) Observe(ev pds.RequestEvent) {
	q := Request{Call: ev.Method, Start: r.since(ev.Start), End: r.since(ev.End), Status: ev.Status, Sent: ev.Sent, Received: ev.Received, Failed: ev.Failed}
	r.mu.Lock()
	r.reqs = append(r.reqs, rawRequest{host: ev.Host, r: q})
	r.mu.Unlock()
}

// StageStart, StageDone and StageSkip record a stage's time.
func (r *Recorder) StageStart(s stage.Stage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.since(time.Now())
	r.stages = append(r.stages, Span{Name: string(s), Start: now, End: now, State: "unfinished"})
}

func (r *Recorder) StageDone(s stage.Stage) { r.closeStage(s, "done") }

// StageSkip ends the stage's open span as skipped (it started, then found
// nothing to do), or records a skip that took no time.
func (r *Recorder) StageSkip(s stage.Stage) { r.closeStage(s, "skipped") }

// closeStage closes the latest open span of s with state, or adds one that took
// no time (a stage done or skipped without a start).
func (r *Recorder) closeStage(s stage.Stage, state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.since(time.Now())
	for i := len(r.stages) - 1; i >= 0; i-- {
		if sp := &r.stages[i]; sp.Name == string(s) && sp.State == "unfinished" {
			sp.End, sp.State = now, state
			return
		}
	}
	r.stages = append(r.stages, Span{Name: string(s), Start: now, End: now, State: state})
}

// addCPU records that the process kept cores busy until at.
func (r *Recorder) addCPU(at time.Time, cores float64) {
	r.mu.Lock()
	r.cpu = append(r.cpu, CPUSample{At: r.since(at), Cores: cores})
	r.mu.Unlock()
}

// Stop ends the recording: later events are still taken (a late body
// close) but the timeline's duration is fixed at the first Stop.
func (r *Recorder) Stop() {
	r.mu.Lock()
	if r.end.IsZero() {
		r.end = time.Now()
	}
	r.mu.Unlock()
}

// Timeline is what was recorded, each request's server named by roles
// (a host roles does not know is "other"). Stages still open end at the
// end of the recording.
func (r *Recorder) Timeline(title string, roles Roles) *Timeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.end
	if end.IsZero() {
		end = time.Now()
	}
	t := &Timeline{Title: title, Duration: r.since(end)}
	t.Stages = append([]Span(nil), r.stages...)
	for i := range t.Stages {
		if t.Stages[i].State == "unfinished" {
			t.Stages[i].End = t.Duration
		}
	}
	t.Reqs = make([]Request, len(r.reqs))
	for i, q := range r.reqs {
		t.Reqs[i] = q.r
		t.Reqs[i].Role = roles.Of(q.host)
		t.Duration = max(t.Duration, q.r.End)
	}
	sort.SliceStable(t.Reqs, func(i, j int) bool { return t.Reqs[i].Start < t.Reqs[j].Start })
	if len(r.cpu) > 0 {
		t.CPU = []CPULane{{Name: "atmigrate CPU", Samples: append([]CPUSample(nil), r.cpu...)}}
	}
	t.Parties = roles.Parties()
	return t
}

// Progress returns a ui.Progress that records the stages and hands every
// call on to next (nil: nothing further).
func (r *Recorder) Progress(next ui.Progress) ui.Progress {
	return progress{Progress: ui.OrNop(next), r: r}
}

type progress struct {
	ui.Progress
	r *Recorder
}

func (p progress) StageStart(s stage.Stage) { p.r.StageStart(s); p.Progress.StageStart(s) }
func (p progress) StageDone(s stage.Stage, note string) {
	p.r.StageDone(s)
	p.Progress.StageDone(s, note)
}
func (p progress) StageSkip(s stage.Stage, reason string) {
	p.r.StageSkip(s)
	p.Progress.StageSkip(s, reason)
}

// Doubt is handed on as the wrapped Progress takes it (see migrate's
// dry run), or as a warning.
func (p progress) Doubt(msg string) {
	if d, ok := p.Progress.(interface{ Doubt(string) }); ok {
		d.Doubt(msg)
		return
	}
	p.Progress.Warn(msg)
}
