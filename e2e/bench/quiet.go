package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The machine may be shared (other test runs, builds). A benchmark on two
// cores is only worth reading when nothing else runs, so the bench waits
// for a quiet machine before each timed part and records how much CPU
// other processes took during it ("foreign" CPU).

// clkTck is the kernel's USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// cpuSnap is a reading of the machine's busy time and of ours (the bench,
// its waited-for children, and the network's Node processes).
type cpuSnap struct {
	at         time.Time
	busy, ours float64 // seconds
	self       float64 // the bench process and its waited-for children
	// servers is each Node server's CPU: "pds-a", "pds-b", "plc".
	servers map[string]float64
}

type cpuMeter struct {
	netDir string // the PDSes' command lines name it
	plcPid int    // the PLC directory's (its command line does not); 0: none
}

func (c *cpuMeter) snap() cpuSnap {
	s := cpuSnap{at: time.Now(), busy: systemBusy(), servers: map[string]float64{}}
	s.self = procCPU("self", true)
	s.ours = s.self
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), c.netDir) {
			t := procCPU(e.Name(), false)
			s.ours += t
			switch {
			case strings.Contains(string(cmd), "pds-a.json"):
				s.servers["pds-a"] += t
			case strings.Contains(string(cmd), "pds-b.json"):
				s.servers["pds-b"] += t
			}
		}
	}
	if c.plcPid != 0 {
		t := procCPU(strconv.Itoa(c.plcPid), false)
		s.ours += t
		s.servers["plc"] = t
	}
	return s
}

// foreign is the CPU seconds other processes used between a and b.
func foreign(a, b cpuSnap) float64 {
	return max(0, (b.busy-a.busy)-(b.ours-a.ours))
}

// serverCPU is the CPU seconds PDS A and B used between a and b.
func serverCPU(a, b cpuSnap) (float64, float64) {
	return b.servers["pds-a"] - a.servers["pds-a"], b.servers["pds-b"] - a.servers["pds-b"]
}

// plcCPU is the CPU seconds the PLC directory used between a and b.
func plcCPU(a, b cpuSnap) float64 { return b.servers["plc"] - a.servers["plc"] }

// selfCPU is the CPU seconds the bench and its waited-for children (an
// atmigrate run) used between a and b.
func selfCPU(a, b cpuSnap) float64 { return b.self - a.self }

// quietBelow is the share of a core other processes may use for the
// machine to count as quiet.
var quietBelow = 0.25

// waitQuiet returns once every process but the bench (our own servers
// included) uses less than quietBelow of a core over a second, or after
// maxWait; it reports how long it waited and
// whether the machine was quiet.
func (c *cpuMeter) waitQuiet(maxWait time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		a := c.snap()
		time.Sleep(time.Second)
		b := c.snap()
		// Our own servers count too: a PDS still busy after seeding
		// (SQLite checkpoints, GC) would slow whichever run came first.
		idle := (b.busy - a.busy) - (procCPU("self", true) - a.self)
		if idle < 0 {
			idle = 0
		}
		if idle/b.at.Sub(a.at).Seconds() < quietBelow {
			return time.Since(start), true
		}
		if time.Since(start) > maxWait {
			return time.Since(start), false
		}
	}
}

func systemBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var total, idle float64
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return (total - idle) / clkTck
}

// procCPU is a process's user+system time, with its waited-for children's
// when children is true.
func procCPU(pid string, children bool) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
	get := func(field int) float64 {
		if field-3 >= len(f) {
			return 0
		}
		n, _ := strconv.ParseFloat(f[field-3], 64)
		return n
	}
	t := get(14) + get(15)
	if children {
		t += get(16) + get(17)
	}
	return t / clkTck
}
