package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/e2e/bench/memstat"
)

// BENCH=memory measures atmigrate's memory settings (internal/memsettings)
// on the repo verification, the part of a migration whose live memory
// grows with the account: for each record count and setting, one
// memverify process (e2e/bench/memverify) verifies a synthetic repo CAR
// and reports its wall and CPU time, the GC's share of the CPU and its
// peak RSS. No Node, no network.

// memSetting is one way to run the verifier: the shipped settings, or the
// environment variables (GOMEMLIMIT, GOGC) that override them.
type memSetting struct {
	Name string
	Env  []string
}

// defaultMemSettings compares what ships with Go's own defaults and
// with the 24 MiB limit atmigrate shipped before it was measured.
const defaultMemSettings = "shipped,none,GOMEMLIMIT=24MiB"

// defaultMemRecords are the bench's account sizes, the decades of the
// memory curve (1k to 1M) and 20,000.
const defaultMemRecords = "500,1000,5000,10000,20000,100000,1000000"

// parseMemSettings reads BENCH_MEMORY_SETTINGS: comma-separated
// "shipped" (internal/memsettings decides), "none" (Go's defaults: no memory
// limit, GOGC=100), or variables joined with "+", e.g. "GOMEMLIMIT=64MiB"
// or "GOGC=50+GOMEMLIMIT=off".
func parseMemSettings(s string) ([]memSetting, error) {
	var out []memSetting
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		switch {
		case tok == "shipped":
			out = append(out, memSetting{Name: tok})
		case tok == "none":
			out = append(out, memSetting{Name: tok, Env: []string{"GOMEMLIMIT=off", "GOGC=100"}})
		case tok != "":
			vars := strings.Split(tok, "+")
			for _, v := range vars {
				k, _, ok := strings.Cut(v, "=")
				if !ok || (k != "GOMEMLIMIT" && k != "GOGC") {
					return nil, fmt.Errorf("memory setting %q: want shipped, none, or GOMEMLIMIT=... and GOGC=... joined by +", tok)
				}
			}
			out = append(out, memSetting{Name: strings.Join(vars, " "), Env: vars})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no memory settings in %q", s)
	}
	return out, nil
}

// parseRecordCounts reads BENCH_MEMORY_RECORDS: comma-separated counts,
// "_" allowed as a digit separator.
func parseRecordCounts(s string) ([]int, error) {
	var out []int
	for _, tok := range strings.Split(s, ",") {
		tok = strings.ReplaceAll(strings.TrimSpace(tok), "_", "")
		if tok == "" {
			continue
		}
		n, err := strconv.Atoi(tok)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("record count %q: want a positive number", tok)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no record counts in %q", s)
	}
	return out, nil
}

// MemRun is one memverify process's answer, plus the CPU other
// processes took meanwhile.
type MemRun struct {
	memstat.Measurement
	ForeignCPU float64 `json:"foreignCpuSeconds"`
	Quiet      bool    `json:"quiet"`
}

// MemCell is one record count under one setting.
type MemCell struct {
	Records int      `json:"records"`
	Setting string   `json:"setting"`
	Env     []string `json:"env"`
	Runs    []MemRun `json:"runs"`
}

// MemReport is bench-results-memory.json.
type MemReport struct {
	Machine  Machine    `json:"machine"`
	Runs     int        `json:"runsPerCell"`
	Started  time.Time  `json:"started"`
	Finished time.Time  `json:"finished"`
	Cells    []*MemCell `json:"cells"`
}

// isMemoryBench tells whether BENCH asks for the memory bench.
func isMemoryBench(env string) bool {
	return strings.EqualFold(strings.TrimSpace(env), "memory")
}

// memoryBench is BENCH=memory: BENCH_MEMORY_RECORDS, BENCH_MEMORY_SETTINGS,
// BENCH_RUNS, BENCH_MEMORY_CACHE and BENCH_OUT shape it (README.md).
func memoryBench() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "atmigrate-bench-memory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	return runMemory(root, work)
}

func runMemory(root, work string) error {
	settings, err := parseMemSettings(envString("BENCH_MEMORY_SETTINGS", defaultMemSettings))
	if err != nil {
		return err
	}
	counts, err := parseRecordCounts(envString("BENCH_MEMORY_RECORDS", defaultMemRecords))
	if err != nil {
		return err
	}
	runs := envInt("BENCH_RUNS", 3)
	cache := envString("BENCH_MEMORY_CACHE", filepath.Join(os.TempDir(), "atmigrate-bench-memory"))
	out := envString("BENCH_OUT", filepath.Join(root, "bench-results-memory.json"))
	svg := envString("BENCH_MEMORY_SVG", strings.TrimSuffix(out, ".json")+"-curve.svg")

	bin := filepath.Join(work, "memverify")
	logf("building e2e/bench/memverify")
	build := exec.Command("go", "build", "-o", bin, "./e2e/bench/memverify")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build memverify: %w", err)
	}
	// Only the verifier's command line names work: it counts as ours.
	meter := &cpuMeter{netDir: work}
	report := MemReport{Machine: machine(), Runs: runs, Started: time.Now().UTC()}
	for _, n := range counts {
		t0 := time.Now()
		car, err := memBuild(bin, n, cache)
		if err != nil {
			return err
		}
		logf("%d records: %s (%.0fs, cached in %s)", n, filepath.Base(car), time.Since(t0).Seconds(), cache)
		cells := make([]*MemCell, len(settings))
		for j, s := range settings {
			cells[j] = &MemCell{Records: n, Setting: s.Name, Env: s.Env}
		}
		for i := 0; i < runs; i++ {
			// Rotate the order, so no setting always runs first.
			for k := range settings {
				j := (i + k) % len(settings)
				r, err := memMeasure(meter, bin, car, settings[j])
				if err != nil {
					return err
				}
				cells[j].Runs = append(cells[j].Runs, *r)
				logf("%d records, %s, run %d/%d: wall %.3fs, CPU %.3fs, GC %.0f%% of CPU (%d cycles), peak RSS %.1f MB; other processes %.2f CPU s",
					n, settings[j].Name, i+1, runs, r.Wall, r.CPU(), r.GCShare(), r.GCCycles, float64(r.PeakRSSKB)/1024, r.ForeignCPU)
			}
		}
		report.Cells = append(report.Cells, cells...)
		if err := writeReport(out, &report); err != nil {
			return err
		}
	}
	report.Finished = time.Now().UTC()
	printMemTable(os.Stdout, report.Cells)
	if err := writeReport(out, &report); err != nil {
		return err
	}
	logf("wrote %s", out)
	if err := writeCurveFile(svg, &report, settings[0].Name); err != nil {
		return err
	}
	logf("wrote %s (peak RSS against records, %s)", svg, settings[0].Name)
	return nil
}

// writeCurveFile writes the memory curve of one setting to path.
func writeCurveFile(path string, report *MemReport, setting string) error {
	var buf bytes.Buffer
	title := fmt.Sprintf("Verifying a repo: peak RSS (%s, median of %d, range as bars)", setting, report.Runs)
	if err := writeMemCurve(&buf, title, memCurvePoints(report.Cells, setting), memLimitMB); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// memBuild has memverify build (or find in the cache) the CAR of n records.
func memBuild(bin string, n int, cache string) (string, error) {
	cmd := exec.Command(bin, "build", "-records", strconv.Itoa(n), "-cache", cache)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build a repo of %d records: %w", n, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// memMeasure runs one verification in a process of its own, with only
// the setting's variables in its environment (none of the bench's), once
// the machine is quiet.
func memMeasure(meter *cpuMeter, bin, car string, s memSetting) (*MemRun, error) {
	_, quiet := meter.waitQuiet(quietWait)
	if !quiet {
		logf("the machine stayed busy (other processes); measuring anyway")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "verify", "-car", car)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, s.Env...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	before := meter.snap()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("verify %s (%s): %w", filepath.Base(car), s.Name, err)
	}
	after := meter.snap()
	var r MemRun
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("memverify's answer %q: %w", stdout.String(), err)
	}
	r.ForeignCPU, r.Quiet = foreign(before, after), quiet
	return &r, nil
}

func envString(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
