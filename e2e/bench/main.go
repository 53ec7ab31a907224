// Command bench measures atmigrate against the bare server calls on a local
// network (`make bench`, or `go run ./e2e/bench`).
//
// It starts its own PLC directory and two PDSes (each its own Node
// process), and for every account size and run seeds two identical
// accounts on PDS A (not timed): one is migrated to B by the real binary
// (`atmigrate migrate --yes` with the PLC token supplied), the other, its
// twin, is moved by the floor: the same server calls in sequence with
// nothing else (no verification, checkpoint or progress). Each size's
// accounts are seeded first, then an untimed lead-in of the same size is
// moved, then the timed parts run back to back, so every part follows a
// move of its size. It prints one table of medians and writes
// bench-results.json at the repository root.
//
// Environment:
//
//	BENCH        sizes, comma separated: S, M, L, XL. Empty means S,M,L;
//	             "XL" alone means S,M,L,XL. "memory" measures the memory
//	             settings instead (memory.go): no network, no Node.
//	BENCH_RUNS   runs per size (default 3; the table shows medians).
//	BENCH_XL_RUNS runs for XL (default 1: seeding it takes minutes).
//	BENCH_CONCURRENCY passed to atmigrate --blob-concurrency (default: its own).
//	BENCH_DOWNLOAD_AHEAD --download-ahead modes, comma separated, taken in
//	             turn run by run (default: atmigrate's own).
//	BENCH_PDS    the PDS versions: "0.4" (default: both on 0.4.217), "0.5"
//	             (B on 0.5.35, A on 0.4.217), or "A,B", e.g. "0.5,0.5". The
//	             results name each PDS's exact package and Node versions.
//	BENCH_OUT    the JSON file (default <repo>/bench-results.json).
//	BENCH_QUIET_WAIT seconds to wait, before each timed part, for other
//	             processes to leave the CPUs alone (default 120; the
//	             results record how much CPU they took anyway).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// size is one account shape.
type size struct {
	Name           string
	Records, Blobs int
	MinB, MaxB     int
}

var sizes = []size{
	{"S", 500, 50, 50_000, 200_000},
	{"M", 5_000, 300, 90_000, 110_000},
	{"L", 20_000, 1_000, 90_000, 110_000},
	{"XL", 100_000, 5_000, 90_000, 110_000},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	quietWait = time.Duration(envInt("BENCH_QUIET_WAIT", 120)) * time.Second
	if isMemoryBench(os.Getenv("BENCH")) {
		return memoryBench()
	}
	sizesEnv, wantBatch := splitBatch(os.Getenv("BENCH"))
	chosen, err := chooseSizes(sizesEnv)
	if wantBatch && strings.TrimSpace(sizesEnv) == "" {
		chosen = nil
	}
	if err != nil {
		return err
	}
	verA, verB, err := pdsVersions(os.Getenv("BENCH_PDS"))
	if err != nil {
		return err
	}
	runs := envInt("BENCH_RUNS", 3)
	xlRuns := envInt("BENCH_XL_RUNS", 1)
	root, err := repoRoot()
	if err != nil {
		return err
	}
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		out = filepath.Join(root, "bench-results.json")
	}

	work, err := os.MkdirTemp("", "atmigrate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "atmigrate")
	logf("building atmigrate")
	// -tags e2e: the request count comes from the binary's bench hook
	// (cmd/atmigrate/bench_hooks.go), which a release build leaves out.
	build := exec.Command("go", "build", "-tags", "e2e", "-o", bin, "./cmd/atmigrate")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build atmigrate: %w", err)
	}

	ctx := context.Background()
	logf("starting the local network (PLC, PDS A on %s, PDS B on %s: one Node process each)", verA, verB)
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	net, err := localnet.Start(sctx, localnet.Options{Dir: filepath.Join(work, "net"), VersionA: verA, VersionB: verB})
	cancel()
	if err != nil {
		return err
	}
	defer net.Close()
	servers, err := describeServers(ctx, net)
	if err != nil {
		return err
	}
	logf("%s", serversLine(servers))

	b := &bench{cpu: &cpuMeter{netDir: net.Dir, plcPid: net.PLCPid()}, net: net, bin: bin, work: work, conc: os.Getenv("BENCH_CONCURRENCY"),
		tlDir: timelineDir(out), servers: servers}
	if v := os.Getenv("BENCH_DOWNLOAD_AHEAD"); v != "" {
		b.ahead = strings.Split(v, ",")
	}
	report := Report{Machine: machine(), Servers: servers, Runs: runs, Started: time.Now().UTC()}
	for _, sz := range chosen {
		n := runs
		if sz.Name == "XL" {
			n = min(runs, xlRuns)
		}
		rs, err := b.runSize(ctx, sz, n, func(i int, r *RunResult) {
			mode := ""
			if r.DownloadAhead != "" {
				mode = " [--download-ahead " + r.DownloadAhead + "]"
			}
			logf("%s run %d/%d%s: atmigrate %.2fs (%.1f MB RSS, %d requests), floor %.2fs total (data %.2fs, blobs c4 %.2fs c8 %.2fs): ratio %.2f; other processes used %.2f / %.2f CPU s",
				sz.Name, i+1, n, mode, r.Atmigrate.Wall, r.Atmigrate.PeakRSSKB/1024, r.Atmigrate.Requests,
				r.Floor.Total, r.Floor.Data, r.Floor.Blobs4, r.Floor.Blobs8, r.Ratio, r.ForeignCPU, r.FloorForeignCPU)
			logf("  server CPU s: atmigrate run A %.2f B %.2f, floor A %.2f B %.2f", r.ACPU, r.BCPU, r.FloorACPU, r.FloorBCPU)
			logf("  atmigrate stages: %s", stageLine(r.Atmigrate.Stages))
			logf("  floor: account %.2f, export %.2f, import %.2f, blobs %.2f, prefs %.2f, identity %.2f, activate %.2f",
				r.Floor.Account, r.Floor.Export, r.Floor.Import, r.Floor.Blobs, r.Floor.Prefs, r.Floor.Identity, r.Floor.Activate)
		})
		if err != nil {
			return err
		}
		report.Accounts = append(report.Accounts, summarize(sz, rs))
		b.pickTimeline(sz.Name, rs)
		if err := writeReport(out, &report); err != nil {
			return err
		}
	}
	if wantBatch {
		bs, err := b.runBatch(ctx, runs)
		if err != nil {
			return err
		}
		report.Batch = bs
		if err := writeReport(out, &report); err != nil {
			return err
		}
	}
	report.Finished = time.Now().UTC()
	printTable(os.Stdout, &report)
	if bs := report.Batch; bs != nil {
		fmt.Printf("\nbatch: %d accounts of %d records, %d at a time: atmigrate batch %.2f s, floor %.2f s, ratio %.2f (median of the per-run ratios), %.0f accounts a minute, peak RSS %.1f MB\n",
			bs.Accounts, batchSize.Records, bs.Wide, bs.Wall, bs.Floor, bs.Ratio, bs.PerMinute, bs.PeakRSSMB)
	}
	printRequestCounts(os.Stdout, &report)
	if err := writeReport(out, &report); err != nil {
		return err
	}
	logf("wrote %s", out)
	return nil
}

// writeReport writes the JSON after every size, so a failure later keeps
// what was measured.
func writeReport(path string, r any) error {
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(j, '\n'), 0o644)
}

func stageLine(st map[string]float64) string {
	var parts []string
	for _, s := range stage.All {
		if d, ok := st[string(s)]; ok && d >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", stageAbbrev[s], d))
		}
	}
	return strings.Join(parts, ", ")
}

// splitBatch takes BATCH (the batch bench, batch.go) out of BENCH.
func splitBatch(env string) (rest string, batch bool) {
	var keep []string
	for _, tok := range strings.Split(env, ",") {
		if strings.EqualFold(strings.TrimSpace(tok), "batch") {
			batch = true
			continue
		}
		keep = append(keep, tok)
	}
	return strings.Join(keep, ","), batch
}

func chooseSizes(env string) ([]size, error) {
	env = strings.ToUpper(strings.TrimSpace(env))
	if env == "" {
		return sizes[:3], nil
	}
	if env == "XL" {
		return sizes, nil
	}
	var out []size
	for _, tok := range strings.Split(env, ",") {
		tok = strings.TrimSpace(tok)
		found := false
		for _, s := range sizes {
			if s.Name == tok {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("BENCH=%q: unknown size %q (S, M, L, XL)", env, tok)
		}
	}
	return out, nil
}

// quietWait bounds the wait for a quiet machine before each timed part.
var quietWait = 2 * time.Minute

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return def
}

// repoRoot is the module root (where go.mod is), from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s: run from the repository", dir)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// Machine describes where the numbers come from.
type Machine struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu,omitempty"`
	Go     string `json:"go"`
	Node   string `json:"node"`
	OS     string `json:"os"`
	Memory string `json:"memory,omitempty"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		m.Node = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		m.Memory = strings.Join(strings.Fields(strings.TrimPrefix(line, "MemTotal:")), " ")
	}
	return m
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
