package diskuse

import (
	"sync"
	"time"
)

// Meter samples Used(dir) through a run and keeps the peak. It samples on
// a ticker and whenever the run says its files grew (Poke), either way at
// most once per 25 walks' time, so a large state dir costs the walk a 25th
// of a core at most. (At one per ten walks' time, make bench measured the
// meter at 0.2 of atmigrate's 0.9 CPU seconds on M, taken from the two
// servers that share the machine; a walk of 1,000 fetched blobs every
// 50 ms took a tenth of a core.)
type Meter struct {
	dir string

	mu       sync.Mutex
	peak     int64
	last     time.Time
	walkTook time.Duration
	walked   time.Duration // all walks' time: the meter's cost
	err      error

	stop chan struct{}
	done chan struct{}
}

// Every is how often a Meter samples without being poked.
const Every = 50 * time.Millisecond

// StartMeter measures dir now and then every interval until Stop.
func StartMeter(dir string, every time.Duration) *Meter {
	m := &Meter{dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	m.sample()
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.sampleUnlessRecent()
			}
		}
	}()
	return m
}

// Poke samples now, unless a sample was taken very recently: the run
// calls it right after a file of its own grew, the moments a peak is made.
func (m *Meter) Poke() {
	if m == nil {
		return
	}
	m.sampleUnlessRecent()
}

// sampleUnlessRecent samples unless the last walk ended less than 25
// walks' time ago: the budget that bounds the meter's CPU.
func (m *Meter) sampleUnlessRecent() {
	m.mu.Lock()
	recent := time.Since(m.last) < max(25*m.walkTook, 2*time.Millisecond)
	m.mu.Unlock()
	if !recent {
		m.sample()
	}
}

func (m *Meter) sample() {
	start := time.Now()
	n, err := Used(m.dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last, m.walkTook = time.Now(), time.Since(start)
	m.walked += m.walkTook
	if err != nil {
		m.err = err
		return
	}
	m.peak = max(m.peak, n)
}

// Stop takes a last sample, ends the sampling and returns the peak.
func (m *Meter) Stop() int64 {
	if m == nil {
		return 0
	}
	select {
	case <-m.stop:
	default:
		m.sample()
		close(m.stop)
		<-m.done
	}
	return m.Peak()
}

// Peak is the most the files below dir took at one sample.
func (m *Meter) Peak() int64 {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}
