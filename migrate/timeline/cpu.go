package timeline

import (
	"sync"
	"time"
)

// CPUInterval is how often SampleCPU reads the process's CPU time.
const CPUInterval = 100 * time.Millisecond

// SampleCPU records the process's own CPU (user + system) every interval
// (0: CPUInterval) until the returned stop is called; stop takes a last
// sample and may be called more than once. Where the process's CPU time
// cannot be read (see processCPU), it records nothing.
func (r *Recorder) SampleCPU(interval time.Duration) (stop func()) {
	if interval <= 0 {
		interval = CPUInterval
	}
	prev, ok := processCPU()
	if !ok {
		return func() {}
	}
	prevAt := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		now := time.Now()
		cpu, ok := processCPU()
		if !ok || !now.After(prevAt) {
			return
		}
		r.addCPU(now, (cpu-prev).Seconds()/now.Sub(prevAt).Seconds())
		prev, prevAt = cpu, now
	}
	go func() {
		defer close(finished)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				sample()
			case <-done:
				sample()
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}
