package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/e2e/bench/memstat"
	"github.com/atmigrate/atmigrate/internal/memsettings"
	"github.com/atmigrate/atmigrate/repo"
)

var metricNames = []string{
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
	"/gc/cycles/total:gc-cycles",
	"/gc/gogc:percent",
	"/gc/gomemlimit:bytes",
}

// measure applies the shipped memory settings, then verifies the CAR at
// path the way the export stage does: the bytes come through an io.Pipe
// (there from the download, here from the file) into repo.VerifyCAR, with
// the DID and signing key checked, and the MST read back from the file
// (CARFile) once the stream has ended.
func measure(path string) (*memstat.Measurement, error) {
	memsettings.Apply()
	keyText, err := os.ReadFile(path + ".key")
	if err != nil {
		return nil, err
	}
	key, err := atcrypto.ParsePublicDIDKey(strings.TrimSpace(string(keyText)))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	runtime.GC()
	before, ruBefore := readMetrics(), rusage()
	start := time.Now()
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, f)
		pw.CloseWithError(err)
	}()
	sum, err := repo.VerifyCAR(context.Background(), pr, repo.VerifyOptions{DID: benchDID, Keys: []atcrypto.PublicKey{key}, CARFile: path})
	wall := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	runtime.GC()
	after, ruAfter := readMetrics(), rusage()

	hwm, err := vmHWM()
	if err != nil {
		return nil, err
	}
	delta := func(i int) float64 { return after[i].Value.Float64() - before[i].Value.Float64() }
	return &memstat.Measurement{
		Records:   sum.Records,
		CARBytes:  sum.Bytes,
		GOGC:      int64(after[4].Value.Uint64()),
		MemLimit:  int64(after[5].Value.Uint64()),
		Wall:      wall.Seconds(),
		User:      tv(ruAfter.Utime) - tv(ruBefore.Utime),
		Sys:       tv(ruAfter.Stime) - tv(ruBefore.Stime),
		GoCPU:     delta(1) - delta(2),
		GCCPU:     delta(0),
		GCCycles:  after[3].Value.Uint64() - before[3].Value.Uint64(),
		PeakRSSKB: hwm,
		MaxRSSKB:  ruAfter.Maxrss,
	}, nil
}

func readMetrics() []metrics.Sample {
	s := make([]metrics.Sample, len(metricNames))
	for i, n := range metricNames {
		s[i].Name = n
	}
	metrics.Read(s)
	return s
}

func rusage() syscall.Rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail for RUSAGE_SELF
	return ru
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// vmHWM reads the process's peak resident set from /proc/self/status.
// Unlike ru_maxrss it starts afresh at exec.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
