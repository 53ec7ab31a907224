package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// The batch bench (BENCH=BATCH, alone or with sizes): batchAccounts small
// accounts moved by one `atmigrate batch --parallel-accounts batchWide`,
// against the floor's calls for their twins, batchWide moves at once (each
// move the floor of one account, one after another in its lane). As for the
// sizes, the two alternate which goes first, each after a sync and a quiet
// machine, after a lead-in round of both parts that is not recorded
// (README: the first round costs PDS B half as much CPU again).

// batchSize is one account of the batch: 100 records, 10 blobs of
// 20-50 KB, a profile, its avatar and preferences.
var batchSize = size{"B16", 100, 10, 20_000, 50_000}

const batchAccounts, batchWide = 16, 3

// BatchRun is one run of the batch bench.
type BatchRun struct {
	Wall      float64 `json:"atmigrateWallSeconds"`
	Floor     float64 `json:"floorWallSeconds"`
	Ratio     float64 `json:"ratio"`
	PeakRSSKB float64 `json:"peakRssKB"`
	// ForeignCPU and FloorForeignCPU are the CPU seconds other processes
	// took during each part.
	ForeignCPU      float64 `json:"foreignCpuSeconds"`
	FloorForeignCPU float64 `json:"floorForeignCpuSeconds"`
	// CPU and FloorCPU are the CPU seconds each party used during each
	// part: where a batch's extra work lands.
	CPU      PartyCPU `json:"cpu"`
	FloorCPU PartyCPU `json:"floorCpu"`
}

// PartyCPU is the CPU seconds each party of a timed part used.
type PartyCPU struct {
	PDSA float64 `json:"pdsA"`
	PDSB float64 `json:"pdsB"`
	PLC  float64 `json:"plc"`
	// Tool is the bench process with its waited-for children: atmigrate
	// in its part, the floor's calls in theirs.
	Tool    float64 `json:"tool"`
	Foreign float64 `json:"others"`
}

func partyCPU(before, after cpuSnap) PartyCPU {
	a, b := serverCPU(before, after)
	return PartyCPU{PDSA: a, PDSB: b, PLC: plcCPU(before, after), Tool: selfCPU(before, after), Foreign: foreign(before, after)}
}

func (p PartyCPU) String() string {
	return fmt.Sprintf("A %.2f, B %.2f, PLC %.2f, tool %.2f, others %.2f", p.PDSA, p.PDSB, p.PLC, p.Tool, p.Foreign)
}

// BatchSummary is the batch bench: medians over its runs, and every run.
type BatchSummary struct {
	Accounts  int        `json:"accounts"`
	Wide      int        `json:"parallelAccounts"`
	Wall      float64    `json:"atmigrateWallSeconds"`
	Floor     float64    `json:"floorWallSeconds"`
	Ratio     float64    `json:"ratio"` // median of the per-run ratios
	PeakRSSMB float64    `json:"peakRssMB"`
	PerMinute float64    `json:"accountsPerMinute"`
	Runs      []BatchRun `json:"runResults"`
}

func (b *bench) runBatch(ctx context.Context, n int) (*BatchSummary, error) {
	t0 := time.Now()
	// Round 0 is the lead-in: a whole round of both parts, not recorded.
	accts := make([][]*localnet.Account, n+1)
	twins := make([][]*localnet.Account, n+1)
	for i := range n + 1 {
		for range batchAccounts {
			a, err := b.seedAccount(ctx, batchSize, "a")
			if err != nil {
				return nil, err
			}
			f, err := b.seedAccount(ctx, batchSize, "f")
			if err != nil {
				return nil, err
			}
			accts[i], twins[i] = append(accts[i], a), append(twins[i], f)
		}
	}
	logf("batch: seeded %d x %d accounts of %d records, a lead-in round's included, in %.0fs (not timed)", 2*(n+1), batchAccounts, batchSize.Records, time.Since(t0).Seconds())
	lead, err := b.measureBatch(ctx, accts[0], twins[0], 0)
	if err != nil {
		return nil, fmt.Errorf("batch lead-in: %w", err)
	}
	logf("batch lead-in round (not recorded): atmigrate batch %.2fs, floor %.2fs; CPU s atmigrate's part: %s; floor's: %s", lead.Wall, lead.Floor, lead.CPU, lead.FloorCPU)
	accts, twins = accts[1:], twins[1:]
	sum := &BatchSummary{Accounts: batchAccounts, Wide: batchWide}
	var walls, floors, ratios, rss []float64
	for i := range n {
		r, err := b.measureBatch(ctx, accts[i], twins[i], i)
		if err != nil {
			return nil, fmt.Errorf("batch run %d: %w", i+1, err)
		}
		logf("batch run %d/%d: atmigrate batch %.2fs (%.1f MB RSS), floor %d wide %.2fs: ratio %.2f; CPU s atmigrate's part: %s; floor's: %s",
			i+1, n, r.Wall, r.PeakRSSKB/1024, batchWide, r.Floor, r.Ratio, r.CPU, r.FloorCPU)
		sum.Runs = append(sum.Runs, *r)
		walls, floors, ratios, rss = append(walls, r.Wall), append(floors, r.Floor), append(ratios, r.Ratio), append(rss, r.PeakRSSKB/1024)
	}
	sum.Wall, sum.Floor, sum.Ratio, sum.PeakRSSMB = median(walls), median(floors), median(ratios), median(rss)
	sum.PerMinute = float64(batchAccounts) / sum.Wall * 60
	return sum, nil
}

// measureBatch moves accts with one `atmigrate batch` and twins with the
// floor, batchWide at once, atmigrate first on even runs.
func (b *bench) measureBatch(ctx context.Context, accts, twins []*localnet.Account, i int) (*BatchRun, error) {
	tokens := func(as []*localnet.Account) ([]string, error) {
		out := make([]string, len(as))
		for j, a := range as {
			t, err := plcToken(ctx, b.net.A, a)
			if err != nil {
				return nil, err
			}
			out[j] = t
		}
		return out, nil
	}
	tokA, err := tokens(accts)
	if err != nil {
		return nil, err
	}
	tokF, err := tokens(twins)
	if err != nil {
		return nil, err
	}
	r := &BatchRun{}
	doA := func() error {
		wall, rssKB, err := b.atmigrateBatch(ctx, accts, tokA)
		r.Wall, r.PeakRSSKB = wall, rssKB
		return err
	}
	doF := func() error {
		start := time.Now()
		errs := make([]error, len(twins))
		next := make(chan int)
		var wg sync.WaitGroup
		for range batchWide {
			wg.Go(func() {
				for j := range next {
					_, errs[j] = runFloor(ctx, b.net, twins[j], tokF[j], true, nil)
				}
			})
		}
		for j := range twins {
			next <- j
		}
		close(next)
		wg.Wait()
		r.Floor = time.Since(start).Seconds()
		for j, err := range errs {
			if err != nil {
				return fmt.Errorf("floor, account %d: %w", j+1, err)
			}
		}
		return nil
	}
	type part struct {
		fn  func() error
		cpu *PartyCPU
	}
	parts := []part{{doA, &r.CPU}, {doF, &r.FloorCPU}}
	if i%2 == 1 {
		parts[0], parts[1] = parts[1], parts[0]
	}
	for _, p := range parts {
		syscall.Sync()
		if waited, ok := b.cpu.waitQuiet(quietWait); !ok {
			logf("the machine stayed busy for %.0fs (other processes); measuring anyway", waited.Seconds())
		}
		before := b.cpu.snap()
		if err := p.fn(); err != nil {
			return nil, err
		}
		*p.cpu = partyCPU(before, b.cpu.snap())
	}
	r.ForeignCPU, r.FloorForeignCPU = r.CPU.Foreign, r.FloorCPU.Foreign
	r.Ratio = r.Wall / r.Floor
	return r, nil
}

// atmigrateBatch runs `atmigrate batch` over accts, each with its PLC
// token from a --tokens file, and returns its wall time and peak RSS.
func (b *bench) atmigrateBatch(ctx context.Context, accts []*localnet.Account, tokens []string) (wall, rssKB float64, err error) {
	dir, err := os.MkdirTemp(b.work, "batch-")
	if err != nil {
		return 0, 0, err
	}
	if keep := os.Getenv("BENCH_KEEP_BATCH"); keep != "" {
		defer os.Rename(dir, filepath.Join(keep, filepath.Base(dir)))
	} else {
		defer os.RemoveAll(dir)
	}
	var list, toks strings.Builder
	list.WriteString("account,old_password\n")
	toks.WriteString("account,token\n")
	for j, a := range accts {
		fmt.Fprintf(&list, "%s,%s\n", a.DID, a.Password)
		fmt.Fprintf(&toks, "%s,%s\n", a.DID, tokens[j])
	}
	listFile, tokFile := filepath.Join(dir, "accounts.csv"), filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o600); err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(tokFile, []byte(toks.String()), 0o600); err != nil {
		return 0, 0, err
	}
	args := []string{"batch", "--accounts", listFile, "--tokens", tokFile, "--state-dir", filepath.Join(dir, "state"),
		"--parallel-accounts", fmt.Sprint(batchWide), "--yes"}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, b.bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_STATE_HOME=" + dir,
		"ATMIGRATE_NEW_PDS=" + b.net.B.URL, "ATMIGRATE_PLC_URL=" + b.net.PLCURL,
		"ATMIGRATE_RELAY=none", "ATMIGRATE_APPVIEW=none",
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	hwm := watchHWM(cmd.Process.Pid)
	err = cmd.Wait()
	wall = time.Since(start).Seconds()
	rssKB = hwm()
	if err != nil {
		return 0, 0, fmt.Errorf("atmigrate batch: %v\n%s", err, tail(out.String(), 3000))
	}
	return wall, rssKB, nil
}
