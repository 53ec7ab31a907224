package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/timeline"
)

type bench struct {
	cpu  *cpuMeter
	net  *localnet.Network
	bin  string
	work string
	conc string
	// ahead, when set, are --download-ahead modes taken in turn, run by
	// run (BENCH_DOWNLOAD_AHEAD), so two modes meet the same machine.
	ahead []string
	seq   int
	// tlDir is where the timelines go; servers names the PDS versions in
	// them (timeline.go).
	tlDir   string
	servers Servers
}

// RunResult is one run of one size: atmigrate on one account, the floor on
// its twin.
type RunResult struct {
	// DownloadAhead is the --download-ahead this run passed ("": none).
	DownloadAhead string       `json:"downloadAhead,omitempty"`
	Atmigrate     AtmigrateRun `json:"atmigrate"`
	Floor         FloorRun     `json:"floor"`
	// Ratio is atmigrate's wall time over the total floor (both include
	// the identity switch, activation and deactivation).
	Ratio float64 `json:"ratio"`
	// ForeignCPU is the CPU seconds other processes on the machine used
	// during the atmigrate run and during the floor run: near zero when
	// the numbers are clean.
	ForeignCPU      float64 `json:"foreignCpuSeconds"`
	FloorForeignCPU float64 `json:"floorForeignCpuSeconds"`
	// CPU seconds PDS A and PDS B spent on the atmigrate run and on the
	// floor run: what each server had to do, whatever else ran.
	ACPU      float64 `json:"pdsACpuSeconds"`
	BCPU      float64 `json:"pdsBCpuSeconds"`
	FloorACPU float64 `json:"floorPdsACpuSeconds"`
	FloorBCPU float64 `json:"floorPdsBCpuSeconds"`
	// Quiet is false when the bench gave up waiting for a quiet machine.
	Quiet bool `json:"quiet"`
	// DataRatio is atmigrate's time up to the end of verify-new over the
	// data floor (account, repo, blobs, preferences).
	DataRatio float64 `json:"dataRatio"`
	// Bound is the least ratio any tool could reach on this run's machine
	// while it checks the export before it writes to PDS B (see bound).
	Bound float64 `json:"boundRatio"`
	// RequestsPerStage and FloorRequestsPerStage count the requests each
	// stage (each floor step) sent to each server, from the timelines.
	RequestsPerStage      Counts `json:"requestsPerStage,omitempty"`
	FloorRequestsPerStage Counts `json:"floorRequestsPerStage,omitempty"`
	// The two runs' timelines, for the picture (timeline.go).
	atmigrateTL, floorTL *timeline.Timeline
}

// AtmigrateRun is what one `atmigrate migrate` cost.
type AtmigrateRun struct {
	Wall float64 `json:"wallSeconds"`
	// PeakRSSKB is the process's own high-water RSS (VmHWM), read from
	// /proc while it runs. RusageMaxRSSKB is wait4's ru_maxrss, kept for
	// reference: Linux folds the parent's RSS into it at exec (Go starts
	// children with vfork semantics), so it is only an upper bound that
	// grows with the bench's own memory.
	PeakRSSKB      float64 `json:"peakRssKB"`
	RusageMaxRSSKB float64 `json:"rusageMaxRssKB"`
	// PeakDiskBytes is the state dir's largest size, sampled from outside
	// every 20 ms while the run goes (the repo, the blob copies, the state).
	PeakDiskBytes int64              `json:"peakDiskBytes"`
	Requests      int64              `json:"httpRequests"`
	Stages        map[string]float64 `json:"stageSeconds"`
	// DataWall is from the process start to the end of verify-new: the
	// part that compares with the data floor.
	DataWall   float64 `json:"dataWallSeconds"`
	Records    int     `json:"records"`
	Blobs      int     `json:"blobs"`
	RepoBytes  int64   `json:"repoBytes"`
	BlobBytes  int64   `json:"blobBytes"`
	UserCPU    float64 `json:"userCpuSeconds"`
	SystemCPU  float64 `json:"systemCpuSeconds"`
	StderrTail string  `json:"-"`
	// started is when the process started; timeline is what it recorded
	// (--timeline), its times counted from about then.
	started  time.Time
	timeline *timeline.Timeline
}

// leadInSize is the account moved, untimed, just before a size's timed
// parts: the same size, capped at L. Measured without it, whichever part
// went first after the minutes of seeding cost PDS B about 1 CPU second
// more than the other (L: 9.8-10.3 against 8.6-9.5 s, whichever tool it
// was), and a 1,000-record primer did not change that: B runs a large
// move more cheaply right after another one. So every timed part follows a
// move of its own size: the lead-in, then the parts back to back.
func leadInSize(sz size) size {
	if sz.Records > sizes[2].Records {
		return sizes[2]
	}
	return sz
}

// pair is a run's two identical accounts: one for atmigrate, its twin for
// the floor.
type pair struct{ acct, twin *localnet.Account }

// seedAccount seeds one account of size sz on A (not timed).
func (b *bench) seedAccount(ctx context.Context, sz size, kind string) (*localnet.Account, error) {
	b.seq++
	spec := localnet.SeedSpec{
		Handle:       fmt.Sprintf("b%s%s%d%d", strings.ToLower(sz.Name), kind, time.Now().UnixNano()%1_000_000, b.seq),
		Posts:        sz.Records - sz.Blobs, // + one post per blob but the avatar, + the profile
		Blobs:        sz.Blobs - 1,          // + the avatar
		BlobMinBytes: sz.MinB, BlobMaxBytes: sz.MaxB,
		Profile: true, Preferences: true,
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	a, err := b.net.A.CreateAccount(sctx, spec)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", spec.Handle, err)
	}
	return a, nil
}

// runSize seeds every pair of sz and the lead-in, moves the lead-in, then
// measures the pairs one after another.
func (b *bench) runSize(ctx context.Context, sz size, n int, each func(i int, r *RunResult)) ([]RunResult, error) {
	t0 := time.Now()
	lead, err := b.seedAccount(ctx, leadInSize(sz), "lead")
	if err != nil {
		return nil, err
	}
	pairs := make([]pair, n)
	for i := range pairs {
		if pairs[i].acct, err = b.seedAccount(ctx, sz, "a"); err != nil {
			return nil, err
		}
		if pairs[i].twin, err = b.seedAccount(ctx, sz, "f"); err != nil {
			return nil, err
		}
	}
	logf("%s: seeded %d x %d records, %d blobs and a lead-in in %.0fs (not timed)", sz.Name, 2*n, pairs[0].acct.Records, len(pairs[0].acct.Blobs), time.Since(t0).Seconds())
	t0 = time.Now()
	tok, err := plcToken(ctx, b.net.A, lead)
	if err != nil {
		return nil, err
	}
	if _, err := runFloor(ctx, b.net, lead, tok, true, nil); err != nil {
		return nil, fmt.Errorf("lead-in: %w", err)
	}
	logf("%s: lead-in moved in %.1fs (not measured)", sz.Name, time.Since(t0).Seconds())
	var rs []RunResult
	for i, p := range pairs {
		r, err := b.measurePair(ctx, p, i)
		if err != nil {
			return nil, fmt.Errorf("%s run %d: %w", sz.Name, i+1, err)
		}
		b.writeTimelines(sz.Name, i, r)
		each(i, r)
		rs = append(rs, *r)
	}
	return rs, nil
}

// measurePair moves p.acct with atmigrate and p.twin with the floor,
// atmigrate first on even runs.
func (b *bench) measurePair(ctx context.Context, p pair, i int) (*RunResult, error) {
	acct, twin := p.acct, p.twin
	tokA, err := plcToken(ctx, b.net.A, acct)
	if err != nil {
		return nil, err
	}
	tokF, err := plcToken(ctx, b.net.A, twin)
	if err != nil {
		return nil, err
	}

	res := &RunResult{}
	if len(b.ahead) > 0 {
		res.DownloadAhead = b.ahead[i%len(b.ahead)]
	}
	// Alternate which goes first, so neither always runs on the servers
	// the other just warmed (or loaded).
	doA := func() error {
		cpu := b.cpu.sampleServers()
		r, err := b.atmigrate(ctx, acct, tokA, res.DownloadAhead)
		if err != nil {
			cpu.stop(time.Now())
			return err
		}
		lanes := cpu.stop(r.started)
		res.Atmigrate = *r
		if tl := r.timeline; tl != nil {
			tl.CPU = append(tl.CPU, lanes...)
			tl.Parties = b.benchRoles().Parties()
			res.atmigrateTL, res.RequestsPerStage = tl, tl.RequestCounts()
		}
		return nil
	}
	doF := func() error {
		rec := timeline.NewRecorder()
		cpu := b.cpu.sampleServers()
		f, err := runFloor(ctx, b.net, twin, tokF, i%2 == 0, rec)
		lanes := cpu.stop(rec.Started())
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		res.Floor = *f
		rec.Stop()
		tl := rec.Timeline("floor", b.benchRoles())
		tl.CPU = append(tl.CPU, lanes...)
		res.floorTL, res.FloorRequestsPerStage = tl, tl.RequestCounts()
		return nil
	}
	type part struct {
		fn         func() error
		foreign    *float64
		aCPU, bCPU *float64
	}
	parts := []part{{doA, &res.ForeignCPU, &res.ACPU, &res.BCPU}, {doF, &res.FloorForeignCPU, &res.FloorACPU, &res.FloorBCPU}}
	if i%2 == 1 {
		parts[0], parts[1] = parts[1], parts[0]
	}
	res.Quiet = true
	for _, p := range parts {
		// Write back what seeding (or the other part) left in the page
		// cache, so neither part pays for the other's disk writes.
		syscall.Sync()
		if waited, ok := b.cpu.waitQuiet(quietWait); !ok {
			res.Quiet = false
			logf("the machine stayed busy for %.0fs (other processes); measuring anyway", waited.Seconds())
		}
		before := b.cpu.snap()
		if err := p.fn(); err != nil {
			return nil, err
		}
		after := b.cpu.snap()
		*p.foreign = foreign(before, after)
		*p.aCPU, *p.bCPU = serverCPU(before, after)
	}
	res.Ratio = res.Atmigrate.Wall / res.Floor.Total
	res.DataRatio = res.Atmigrate.DataWall / res.Floor.Data
	res.Bound = bound(res.Floor, res.BCPU, res.FloorBCPU)
	return res, nil
}

// plcToken has A email the account a PLC token (as the user would before
// running with --plc-token) and reads it from the network's mail log.
func plcToken(ctx context.Context, a *localnet.PDS, acct *localnet.Account) (string, error) {
	c := pds.New(a.URL, pds.Options{})
	if _, err := c.Login(ctx, acct.DID, acct.Password, ""); err != nil {
		return "", fmt.Errorf("log in %s: %w", acct.Handle, err)
	}
	if err := c.RequestPlcOperationSignature(ctx); err != nil {
		return "", fmt.Errorf("request a PLC token for %s: %w", acct.Handle, err)
	}
	return a.PLCToken(acct.Email)
}

func (b *bench) atmigrate(ctx context.Context, acct *localnet.Account, token, ahead string) (*AtmigrateRun, error) {
	dir, err := os.MkdirTemp(b.work, "run-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "state")
	reqFile := filepath.Join(dir, "requests")
	tlFile := filepath.Join(dir, "timeline.json")
	args := []string{"migrate", "--yes", "--state-dir", state, "--timeline", tlFile}
	if b.conc != "" {
		args = append(args, "--blob-concurrency", b.conc)
	}
	if ahead != "" {
		args = append(args, "--download-ahead", ahead)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, b.bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_STATE_HOME=" + dir,
		"ATMIGRATE_ACCOUNT=" + acct.DID,
		"ATMIGRATE_OLD_PASSWORD=" + acct.Password,
		"ATMIGRATE_NEW_PDS=" + b.net.B.URL,
		"ATMIGRATE_PLC_URL=" + b.net.PLCURL,
		"ATMIGRATE_PLC_TOKEN=" + token,
		"ATMIGRATE_BENCH_REQUESTS_FILE=" + reqFile,
		// Loopback only: no relay or AppView (the floor asks none either).
		"ATMIGRATE_RELAY=none",
		"ATMIGRATE_APPVIEW=none",
	}

	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	hwm := watchHWM(cmd.Process.Pid)
	du := watchDirSize(state)
	err = cmd.Wait()
	wall := time.Since(start)
	peak := hwm()
	peakDisk := du()
	if err != nil {
		return nil, fmt.Errorf("atmigrate migrate: %v\n%s", err, tail(stderr.String(), 3000))
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r := &AtmigrateRun{Wall: wall.Seconds(), Stages: map[string]float64{}, StderrTail: tail(stderr.String(), 2000)}
	r.PeakRSSKB = peak
	r.started, r.timeline = start, readTimeline(tlFile)
	r.PeakDiskBytes = peakDisk
	if ru != nil {
		r.RusageMaxRSSKB = float64(ru.Maxrss) // KB on Linux
		r.UserCPU = time.Duration(ru.Utime.Nano()).Seconds()
		r.SystemCPU = time.Duration(ru.Stime.Nano()).Seconds()
	}
	if raw, err := os.ReadFile(reqFile); err == nil {
		r.Requests, _ = strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	}
	st, err := checkpoint.Load(state)
	if err != nil || st == nil {
		return nil, fmt.Errorf("read the state file: %v", err)
	}
	if !st.Completed {
		return nil, fmt.Errorf("the state says the migration is not complete\n%s", r.StderrTail)
	}
	for _, s := range stage.All {
		if ss := st.Stages[s]; ss != nil && !ss.Started.IsZero() && !ss.Finished.IsZero() {
			r.Stages[string(s)] = ss.Finished.Sub(ss.Started).Seconds()
			if s == stage.VerifyNew {
				r.DataWall = ss.Finished.Sub(start).Seconds()
			}
		}
	}
	r.Records, r.Blobs = st.Repo.Records, st.Blobs.Total
	r.RepoBytes, r.BlobBytes = st.Repo.Bytes, st.Blobs.TotalBytes
	return r, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// watchHWM polls /proc/<pid>/status for VmHWM (the peak resident set of
// the process's own memory since its exec) every 50 ms until the returned
// function is called, which gives the highest reading. The last reading is
// at most 50 ms before the exit; the peak is a high-water mark, so only
// growth in those last milliseconds could be missed. (Every 10 ms, the
// reads took about 1% of a core, in atmigrate's runs only.)
func watchHWM(pid int) func() float64 {
	var mu sync.Mutex
	var peak float64
	stop := make(chan struct{})
	done := make(chan struct{})
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						f := strings.Fields(v)
						if len(f) > 0 {
							if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
								mu.Lock()
								peak = max(peak, kb)
								mu.Unlock()
							}
						}
					}
				}
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// watchDirSize adds up the sizes of the files under dir until the
// returned function is called, which gives the largest total seen. Files
// that come and go between two samples are missed, so this is a lower
// bound of the true peak. It walks every 20 ms, or when a walk takes
// longer than 0.8 ms (a few hundred blobs fetched ahead), once per 25
// walks' time: at every 20 ms, walking 300 files took 0.09 of a core and
// 1,000 files 0.2, in atmigrate's runs only, on a machine whose two cores
// the servers and atmigrate already fill.
func watchDirSize(dir string) func() int64 {
	var peak int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			start := time.Now()
			var n int64
			_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if fi, err := d.Info(); err == nil {
						n += fi.Size()
					}
				}
				return nil
			})
			peak = max(peak, n)
			select {
			case <-stop:
				return
			case <-time.After(max(20*time.Millisecond, 25*time.Since(start))):
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak
	}
}

// bound is the least ratio to f any tool could reach, given that PDS B
// used bCPU and floorBCPU CPU seconds for the same move in the two parts
// (the less of the two counts): B's work (creating the account, the
// import, the uploads, the switch) can only start once the export is
// downloaded and checked, since the account is created only after the
// export's blobs are checked against B's upload limit, and B's Node runs
// that work on one core. So no move takes less than the export plus B's
// CPU seconds. (Node's helper threads let B go a little over one core, so
// the bound is close, not exact.)
func bound(f FloorRun, bCPU, floorBCPU float64) float64 {
	if f.Total <= 0 {
		return 0
	}
	return (f.Export + min(bCPU, floorBCPU)) / f.Total
}
