package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/timeline"
)

// The timelines: each measured run's picture, atmigrate's run (recorded
// by the binary itself, --timeline FILE.json) above the floor's (recorded
// here, through the same request observer), on one time scale, each with
// the CPU of PDS A and PDS B sampled from /proc while it ran.

// recObserver is rec's request observer, nil for no recorder.
func recObserver(rec *timeline.Recorder) pds.Observer {
	if rec == nil {
		return nil
	}
	return rec.Observe
}

// floorSteps records the floor's steps as stages, one at a time.
type floorSteps struct {
	rec *timeline.Recorder
	cur stage.Stage
}

func (f *floorSteps) begin(s stage.Stage) time.Time {
	f.end()
	if f.rec != nil {
		f.rec.StageStart(s)
		f.cur = s
	}
	return time.Now()
}

// end ends the step that runs, if any.
func (f *floorSteps) end() {
	if f.rec != nil && f.cur != "" {
		f.rec.StageDone(f.cur)
		f.cur = ""
	}
}

// serverSampler reads PDS A's and PDS B's CPU time every interval.
type serverSampler struct {
	t0       time.Time
	pids     map[string][]string // "A", "B" → the server's processes
	done     chan struct{}
	finished chan struct{}
	samples  map[string][]timeline.CPUSample
}

// sampleServers starts sampling the servers' CPU (every 100 ms).
func (c *cpuMeter) sampleServers() *serverSampler {
	s := &serverSampler{t0: time.Now(), pids: map[string][]string{}, done: make(chan struct{}), finished: make(chan struct{}), samples: map[string][]timeline.CPUSample{}}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), c.netDir) {
			continue
		}
		switch {
		case strings.Contains(string(cmd), "pds-a.json"):
			s.pids["A"] = append(s.pids["A"], e.Name())
		case strings.Contains(string(cmd), "pds-b.json"):
			s.pids["B"] = append(s.pids["B"], e.Name())
		}
	}
	read := func(who string) float64 {
		t := 0.0
		for _, p := range s.pids[who] {
			t += procCPU(p, false)
		}
		return t
	}
	prev := map[string]float64{"A": read("A"), "B": read("B")}
	prevAt := s.t0
	go func() {
		defer close(s.finished)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			stop := false
			select {
			case <-tk.C:
			case <-s.done:
				stop = true
			}
			now := time.Now()
			if dt := now.Sub(prevAt).Seconds(); dt > 0 {
				for _, who := range []string{"A", "B"} {
					v := read(who)
					s.samples[who] = append(s.samples[who], timeline.CPUSample{At: now.Sub(s.t0).Seconds(), Cores: max(0, v-prev[who]) / dt})
					prev[who] = v
				}
				prevAt = now
			}
			if stop {
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the lanes with times counted from
// origin (samples before it are dropped).
func (s *serverSampler) stop(origin time.Time) []timeline.CPULane {
	close(s.done)
	<-s.finished
	shift := s.t0.Sub(origin).Seconds()
	var lanes []timeline.CPULane
	for _, who := range []string{"A", "B"} {
		if len(s.pids[who]) == 0 {
			continue
		}
		l := timeline.CPULane{Name: map[string]string{"A": "old PDS (A) CPU", "B": "new PDS (B) CPU"}[who]}
		for _, x := range s.samples[who] {
			if x.At+shift >= 0 {
				l.Samples = append(l.Samples, timeline.CPUSample{At: x.At + shift, Cores: x.Cores})
			}
		}
		lanes = append(lanes, l)
	}
	return lanes
}

// readTimeline reads the JSON --timeline wrote (nil when it is missing).
func readTimeline(path string) *timeline.Timeline {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var tl timeline.Timeline
	if json.Unmarshal(b, &tl) != nil {
		return nil
	}
	return &tl
}

// benchRoles are the servers of a bench run, named with their versions.
func (b *bench) benchRoles() timeline.Roles {
	return timeline.Roles{OldPDS: b.net.A.URL, NewPDS: b.net.B.URL, PLC: b.net.PLCURL, Versions: map[string]string{
		timeline.RoleOldPDS: "A: " + b.servers.A.String(), timeline.RoleNewPDS: "B: " + b.servers.B.String()}}
}

// writeTimelines draws run i of size name: atmigrate above, the floor
// below, one time scale, into b.tlDir as timeline-<size>-<i>.svg. A
// failure is logged, never fatal.
func (b *bench) writeTimelines(name string, i int, r *RunResult) {
	if b.tlDir == "" || r.atmigrateTL == nil || r.floorTL == nil {
		return
	}
	a, f := *r.atmigrateTL, *r.floorTL
	a.Title = fmt.Sprintf("%s run %d: atmigrate migrate, %.2f s wall", name, i+1, r.Atmigrate.Wall)
	a.Notes = append(a.Notes, fmt.Sprintf("%d requests; atmigrate %.2f CPU s, PDS A %.2f, PDS B %.2f", len(a.Reqs), r.Atmigrate.UserCPU+r.Atmigrate.SystemCPU, r.ACPU, r.BCPU))
	f.Title = fmt.Sprintf("%s run %d: the floor (the bare calls, one step after another), %.2f s as drawn", name, i+1, f.Duration)
	f.Notes = append(f.Notes, fmt.Sprintf("%d requests; PDS A %.2f CPU s, PDS B %.2f; blobs drawn as run (half 4, half 8 at a time): its total counts %.2f s", len(f.Reqs), r.FloorACPU, r.FloorBCPU, r.Floor.Total))
	path := filepath.Join(b.tlDir, fmt.Sprintf("timeline-%s-%d.svg", name, i+1))
	if err := writeSVGFile(path, &a, &f); err != nil {
		logf("timeline: %v", err)
		return
	}
	// The same two timelines as data, for reading the gaps off exactly.
	if raw, err := json.MarshalIndent([]*timeline.Timeline{&a, &f}, "", " "); err == nil {
		if err := os.WriteFile(strings.TrimSuffix(path, ".svg")+".json", raw, 0o644); err != nil {
			logf("timeline: %v", err)
		}
	}
	logf("  timeline: %s", path)
}

// pickTimeline copies the picture of the run with the median ratio (the
// lower middle of an even count) to timeline-<size>.svg: the one the
// README shows for that size.
func (b *bench) pickTimeline(name string, rs []RunResult) {
	if b.tlDir == "" || len(rs) == 0 {
		return
	}
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(x, y int) bool { return rs[idx[x]].Ratio < rs[idx[y]].Ratio })
	mid := idx[(len(idx)-1)/2]
	src := filepath.Join(b.tlDir, fmt.Sprintf("timeline-%s-%d.svg", name, mid+1))
	raw, err := os.ReadFile(src)
	if err != nil {
		logf("timeline: %v", err)
		return
	}
	dst := filepath.Join(b.tlDir, fmt.Sprintf("timeline-%s.svg", name))
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		logf("timeline: %v", err)
		return
	}
	logf("%s: the median run's timeline (run %d, ratio %.2f): %s", name, mid+1, rs[mid].Ratio, dst)
}

func writeSVGFile(path string, tls ...*timeline.Timeline) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	err = timeline.WriteSVG(fh, tls...)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// Counts is requests per stage per party: stage → role → count.
type Counts map[string]map[string]int

// medianCounts is the median of each cell over the runs.
func medianCounts(rs []RunResult, pick func(RunResult) Counts) Counts {
	cells := map[[2]string][]float64{}
	for _, r := range rs {
		for s, byRole := range pick(r) {
			for role, n := range byRole {
				k := [2]string{s, role}
				cells[k] = append(cells[k], float64(n))
			}
		}
	}
	out := Counts{}
	for k, v := range cells {
		for len(v) < len(rs) {
			v = append(v, 0) // a run without that cell had none
		}
		sort.Float64s(v)
		if out[k[0]] == nil {
			out[k[0]] = map[string]int{}
		}
		out[k[0]][k[1]] = int(median(v) + 0.5)
	}
	return out
}

// printRequestCounts prints, per size, the requests per stage per party
// of atmigrate and of the floor (medians).
func printRequestCounts(w io.Writer, r *Report) {
	var order []string
	for _, s := range stage.All {
		order = append(order, string(s))
	}
	order = append(order, timeline.Unstaged)
	roles := []string{timeline.RoleOldPDS, timeline.RoleNewPDS, timeline.RolePLC}
	for _, a := range r.Accounts {
		if len(a.RequestsPerStage) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: atmigrate's requests per stage and server (medians):\n", a.Name)
		_ = timeline.WriteCounts(w, a.RequestsPerStage, order, roles)
		fmt.Fprintf(w, "%s: the floor's requests per step and server (medians):\n", a.Name)
		_ = timeline.WriteCounts(w, a.FloorRequestsPerStage, order, roles)
		fmt.Fprintln(w)
	}
}

// timelineDir is where the pictures go: BENCH_TIMELINES, or
// bench-timelines/ beside the results file.
func timelineDir(results string) string {
	if d := os.Getenv("BENCH_TIMELINES"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(results), "bench-timelines")
}
