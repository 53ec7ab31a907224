package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// Report is bench-results.json.
type Report struct {
	Machine  Machine          `json:"machine"`
	Servers  Servers          `json:"servers"`
	Runs     int              `json:"runsPerSize"`
	Started  time.Time        `json:"started"`
	Finished time.Time        `json:"finished"`
	Accounts []AccountSummary `json:"accounts"`
	// Batch is the batch bench (BENCH=...,BATCH; batch.go).
	Batch *BatchSummary `json:"batch,omitempty"`
}

// AccountSummary is one size: medians over its runs, and every run.
type AccountSummary struct {
	Name      string  `json:"name"`
	Records   int     `json:"records"`
	Blobs     int     `json:"blobs"`
	MB        float64 `json:"mb"` // repo + blobs, 10^6 bytes
	Wall      float64 `json:"atmigrateWallSeconds"`
	DataWall  float64 `json:"atmigrateDataWallSeconds"`
	Floor     float64 `json:"floorTotalSeconds"`
	DataFloor float64 `json:"floorDataSeconds"`
	Ratio     float64 `json:"ratio"`      // median of per-run ratios
	DataRatio float64 `json:"dataRatio"`  // median of per-run data ratios
	Bound     float64 `json:"boundRatio"` // median of per-run bounds (run.go: bound)
	MBps      float64 `json:"mbPerSecond"`
	PeakRSSMB float64 `json:"peakRssMB"`
	MaxRSSMB  float64 `json:"maxPeakRssMB"` // the worst run
	// RusageRSSMB is the median of wait4's ru_maxrss: an upper bound that
	// includes the bench's own RSS (see AtmigrateRun).
	RusageRSSMB float64 `json:"rusageMaxRssMB"`
	// RequestsPerStage and FloorRequestsPerStage are the requests per
	// stage (floor step) and server, medians of the runs (timeline.go).
	RequestsPerStage      Counts  `json:"requestsPerStage,omitempty"`
	FloorRequestsPerStage Counts  `json:"floorRequestsPerStage,omitempty"`
	Requests              int64   `json:"httpRequests"`
	CPU                   float64 `json:"atmigrateCpuSeconds"`
	// PeakDiskMB is the state dir's largest size (max over the runs).
	PeakDiskMB float64 `json:"peakDiskMB"`
	// Server CPU seconds (medians) for the atmigrate run and the floor run,
	// and the CPU other processes on the machine took meanwhile.
	ACPU            float64 `json:"pdsACpuSeconds"`
	BCPU            float64 `json:"pdsBCpuSeconds"`
	FloorACPU       float64 `json:"floorPdsACpuSeconds"`
	FloorBCPU       float64 `json:"floorPdsBCpuSeconds"`
	ForeignCPU      float64 `json:"foreignCpuSeconds"`
	FloorForeignCPU float64 `json:"floorForeignCpuSeconds"`
	// Stages are atmigrate's per-stage medians (from its state file).
	Stages map[string]float64 `json:"stageSeconds"`
	// FloorStages are the floor's per-step medians.
	FloorStages map[string]float64 `json:"floorStageSeconds"`
	RunResults  []RunResult        `json:"runs"`
}

func summarize(sz size, rs []RunResult) AccountSummary {
	col := func(f func(r RunResult) float64) float64 {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	last := rs[len(rs)-1].Atmigrate
	s := AccountSummary{
		Name: sz.Name, Records: last.Records, Blobs: last.Blobs,
		MB:              float64(last.RepoBytes+last.BlobBytes) / 1e6,
		Wall:            col(func(r RunResult) float64 { return r.Atmigrate.Wall }),
		DataWall:        col(func(r RunResult) float64 { return r.Atmigrate.DataWall }),
		Floor:           col(func(r RunResult) float64 { return r.Floor.Total }),
		DataFloor:       col(func(r RunResult) float64 { return r.Floor.Data }),
		Ratio:           col(func(r RunResult) float64 { return r.Ratio }),
		DataRatio:       col(func(r RunResult) float64 { return r.DataRatio }),
		Bound:           col(func(r RunResult) float64 { return r.Bound }),
		PeakRSSMB:       col(func(r RunResult) float64 { return r.Atmigrate.PeakRSSKB / 1024 }),
		Requests:        int64(col(func(r RunResult) float64 { return float64(r.Atmigrate.Requests) })),
		CPU:             col(func(r RunResult) float64 { return r.Atmigrate.UserCPU + r.Atmigrate.SystemCPU }),
		Stages:          map[string]float64{},
		ACPU:            col(func(r RunResult) float64 { return r.ACPU }),
		BCPU:            col(func(r RunResult) float64 { return r.BCPU }),
		FloorACPU:       col(func(r RunResult) float64 { return r.FloorACPU }),
		FloorBCPU:       col(func(r RunResult) float64 { return r.FloorBCPU }),
		ForeignCPU:      col(func(r RunResult) float64 { return r.ForeignCPU }),
		FloorForeignCPU: col(func(r RunResult) float64 { return r.FloorForeignCPU }),
		FloorStages: map[string]float64{
			"account":  col(func(r RunResult) float64 { return r.Floor.Account }),
			"export":   col(func(r RunResult) float64 { return r.Floor.Export }),
			"import":   col(func(r RunResult) float64 { return r.Floor.Import }),
			"blobs":    col(func(r RunResult) float64 { return r.Floor.Blobs }),
			"blobs4":   col(func(r RunResult) float64 { return r.Floor.Blobs4 }),
			"blobs8":   col(func(r RunResult) float64 { return r.Floor.Blobs8 }),
			"prefs":    col(func(r RunResult) float64 { return r.Floor.Prefs }),
			"identity": col(func(r RunResult) float64 { return r.Floor.Identity }),
			"activate": col(func(r RunResult) float64 { return r.Floor.Activate }),
		},
		RunResults: rs,

		RequestsPerStage:      medianCounts(rs, func(r RunResult) Counts { return r.RequestsPerStage }),
		FloorRequestsPerStage: medianCounts(rs, func(r RunResult) Counts { return r.FloorRequestsPerStage }),
	}
	for _, r := range rs {
		s.MaxRSSMB = max(s.MaxRSSMB, r.Atmigrate.PeakRSSKB/1024)
		s.PeakDiskMB = max(s.PeakDiskMB, float64(r.Atmigrate.PeakDiskBytes)/1e6)
	}
	for _, st := range stage.All {
		name := string(st)
		s.Stages[name] = col(func(r RunResult) float64 { return r.Atmigrate.Stages[name] })
	}
	if s.Wall > 0 {
		s.MBps = s.MB / s.Wall
	}
	return s
}

// stageAbbrev keeps the stage table narrow.
var stageAbbrev = map[stage.Stage]string{
	stage.Login: "login", stage.Preflight: "pre", stage.ExportRepo: "export",
	stage.CreateAccount: "account", stage.ImportRepo: "import", stage.Blobs: "blobs",
	stage.Preferences: "prefs", stage.VerifyNew: "verify", stage.CatchUp: "catchup",
	stage.Identity: "identity", stage.Activate: "activate", stage.SignCommit: "sign", stage.DeactivateOld: "deact",
	stage.FinalCheck: "final", stage.Network: "network",
}

func printTable(w io.Writer, r *Report) {
	m := r.Machine
	fmt.Fprintf(w, "\nmachine: %d CPUs (%s), %s, %s, Node %s; medians of %d run(s)\n", m.CPUs, m.CPU, m.Memory, m.Go, m.Node, r.Runs)
	fmt.Fprintf(w, "%s\n\n", serversLine(r.Servers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "account\trecords\tblobs\tMB\tatmigrate s\tfloor s\tratio\tbound\tdata s\tdata floor s\tdata ratio\tMB/s\tpeak RSS MB\tpeak disk MB\tHTTP req\tCPU s\t")
	for _, a := range r.Accounts {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%d\t%.2f\t\n",
			a.Name, a.Records, a.Blobs, a.MB, a.Wall, a.Floor, a.Ratio, a.Bound, a.DataWall, a.DataFloor, a.DataRatio, a.MBps, a.PeakRSSMB, a.PeakDiskMB, a.Requests, a.CPU)
	}
	fmt.Fprintln(w, "(bound: the export, then PDS B's CPU seconds at one core, over the floor: no tool that checks the export before it writes to B moves faster on this machine)")
	tw.Flush()

	fmt.Fprintln(w, "\natmigrate per stage (s, medians):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := []string{"account"}
	for _, s := range stage.All {
		hdr = append(hdr, stageAbbrev[s])
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t")+"\t")
	for _, a := range r.Accounts {
		row := []string{a.Name}
		for _, s := range stage.All {
			row = append(row, fmt.Sprintf("%.2f", a.Stages[string(s)]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()

	fmt.Fprintln(w, "\nCPU seconds (medians): the servers' work, and what other processes on the machine took meanwhile:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "account\tatmigrate\tPDS A\tPDS B\tothers\tfloor: PDS A\tPDS B\tothers\t")
	for _, a := range r.Accounts {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", a.Name, a.CPU, a.ACPU, a.BCPU, a.ForeignCPU, a.FloorACPU, a.FloorBCPU, a.FloorForeignCPU)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nfloor per step (s, medians; blobs = the better of 4 and 8 at a time):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	steps := []string{"account", "export", "import", "blobs4", "blobs8", "blobs", "prefs", "identity", "activate"}
	fmt.Fprintln(tw, "account\t"+strings.Join(steps, "\t")+"\t")
	for _, a := range r.Accounts {
		row := []string{a.Name}
		for _, s := range steps {
			row = append(row, fmt.Sprintf("%.2f", a.FloorStages[s]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
}
