// Package memstat is what one memory-bench measurement reports: the
// child process (e2e/bench/memverify) writes it as JSON, the bench
// (BENCH=memory) reads it.
package memstat

// Measurement is what one verification cost. CPU and GC figures cover
// the verification alone (deltas from just before it to a forced GC just
// after it: the runtime updates its CPU classes only at the end of a GC
// cycle, so the final GC makes them whole, and its small cost is counted);
// the peak RSS is the process's.
type Measurement struct {
	Records  int     `json:"records"`
	CARBytes int64   `json:"carBytes"`
	GOGC     int64   `json:"gogc"`             // in force during the run; -1 for off
	MemLimit int64   `json:"memoryLimitBytes"` // in force during the run; math.MaxInt64 for none
	Wall     float64 `json:"wallSeconds"`
	User     float64 `json:"userSeconds"`
	Sys      float64 `json:"sysSeconds"`
	// GoCPU is the runtime's estimate of the CPU it used (every class
	// but idle): GOMAXPROCS times the wall time less idle Ps, which counts
	// a P blocked in a read as busy, so it runs above User+Sys.
	GoCPU float64 `json:"goCpuSeconds"`
	// GCCPU is /cpu/classes/gc/total:cpu-seconds: the mark workers' and
	// assists' time plus the pauses, by the same per-P clock as GoCPU.
	// The bench reports it as a share of GoCPU.
	GCCPU     float64 `json:"gcCpuSeconds"`
	GCCycles  uint64  `json:"gcCycles"`
	PeakRSSKB int64   `json:"peakRssKB"`      // VmHWM: this process's own high-water mark
	MaxRSSKB  int64   `json:"rusageMaxRssKB"` // getrusage ru_maxrss, which may include the parent's RSS at exec
}

// CPU is the verification's user+system time.
func (m Measurement) CPU() float64 { return m.User + m.Sys }

// GCShare is the GC's CPU as a percentage of the CPU the Go runtime used,
// both as the runtime counts them (runtime/metrics: the gc class against
// every class but idle). Both are wall-clock based per P, so a thread the
// kernel preempted still counts; dividing the GC's share by user+system
// time instead would mix the two clocks, and on a busy machine gives
// shares above 100%.
func (m Measurement) GCShare() float64 {
	if m.GoCPU <= 0 {
		return 0
	}
	return 100 * m.GCCPU / m.GoCPU
}
