package main

import (
	"fmt"
	"io"
	"sort"
)

// printMemTable prints the memory bench's table in the README's form:
// the median of each column with the range over the runs.
func printMemTable(w io.Writer, cells []*MemCell) {
	fmt.Fprintln(w, "| records | setting | wall s | CPU s | GC % of CPU | peak RSS MB | others' CPU s (max) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, c := range cells {
		col := func(f func(MemRun) float64) []float64 {
			var xs []float64
			for _, r := range c.Runs {
				xs = append(xs, f(r))
			}
			return xs
		}
		foreignMax := 0.0
		for _, x := range col(func(r MemRun) float64 { return r.ForeignCPU }) {
			foreignMax = max(foreignMax, x)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.2f |\n", thousands(c.Records), c.Setting,
			spread(col(func(r MemRun) float64 { return r.Wall }), "%.3f"),
			spread(col(func(r MemRun) float64 { return r.CPU() }), "%.3f"),
			spread(col(func(r MemRun) float64 { return r.GCShare() }), "%.0f"),
			spread(col(func(r MemRun) float64 { return float64(r.PeakRSSKB) / 1024 }), "%.1f"),
			foreignMax)
	}
}

// spread formats the median of xs and, over several runs, their range:
// "1.23 (1.20-1.31)".
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return ""
	}
	s := fmt.Sprintf(format, median(xs))
	if len(xs) == 1 {
		return s
	}
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	return s + " (" + fmt.Sprintf(format, sorted[0]) + "-" + fmt.Sprintf(format, sorted[len(sorted)-1]) + ")"
}

// thousands writes n with commas: 1,000,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
