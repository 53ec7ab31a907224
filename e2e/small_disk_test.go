package e2e

// A state dir on a disk much smaller than the account: the window fits
// the disk, a full disk shrinks it, and the run reports the peak it
// measured.

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// diskSampler samples a file system's used bytes (what `df` shows) on a
// ticker, from outside the run, for the peak it saw.
type diskSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func sampleDisk(t *testing.T, dir string, every time.Duration) *diskSampler {
	t.Helper()
	s := &diskSampler{stop: make(chan struct{}), done: make(chan struct{})}
	used := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0
		}
		return int64(st.Blocks-st.Bfree) * st.Bsize
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			n := used()
			s.mu.Lock()
			s.peak = max(s.peak, n)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop ends the sampling and returns the peak.
func (s *diskSampler) Stop() int64 {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// TestAccountMuchLargerThanTheDisk moves 2,000 records and about 30 MB of
// blobs (300 of 80-120 KB) through a 12 MB state disk, by the email
// token: the first run pauses for it (exit 3), the same command with the
// token finishes. Disk use stays under the disk, and the peak the run
// reports is measured: a sampler outside the run sees no more.
func TestAccountMuchLargerThanTheDisk(t *testing.T) {
	net := sharedNet(t)
	const size = 12 << 20
	disk := smallDisk(t, "12m")
	seeding := time.Now()
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("tiny"), Posts: 1700, Blobs: 300,
		BlobMinBytes: 80_000, BlobMaxBytes: 120_000})
	t.Logf("seeded in %s", time.Since(seeding).Round(100*time.Millisecond))
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	state := filepath.Join(disk, "state")
	args := []string{"migrate", "--state-dir", state, "--yes"}
	env := migrateEnv(net, acct)

	sampler := sampleDisk(t, disk, 2*time.Millisecond)
	// Someone else takes 2 MB of the disk once the prefetch has begun:
	// free space the window was sized to is gone, and the run must meet
	// the full disk, shrink the window and go on.
	filler := fillOnceBlobsLand(t, state, filepath.Join(disk, "filler"), 2<<20)
	start := time.Now()
	r := runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("first run: want the pause for the PLC token (exit 3)\n%s", r)
	}
	mustContain(t, r.run, "the migration's files took at most", "is full: the blobs fetched ahead of the uploads shrink to")
	if got := <-filler; got < 1<<20 {
		t.Fatalf("the filler got only %d bytes: the test did not take the disk from under the run", got)
	}
	t.Logf("first run (to the pause) took %s", time.Since(start).Round(100*time.Millisecond))
	token := plcTokenFor(t, net, acct)
	r = runBin(t, withEnv(env, "ATMIGRATE_PLC_TOKEN", token), args...)
	if r.code != 0 {
		t.Fatalf("with the token: want exit 0\n%s", r)
	}
	took := time.Since(start)
	sampled := sampler.Stop()
	mustContain(t, r.run, "the migration's files took at most")
	assertOneMigration(t, net, acct, before)

	st := loadState(t, state)
	reported := st.Disk.PeakBytes
	if reported <= 0 || reported > size {
		t.Errorf("reported peak %d bytes, want 1..%d (the disk)", reported, size)
	}
	// Nothing but the run and the filler write on this disk: the run's
	// own measure must not fall short of what df saw besides the filler
	// (it samples as each blob lands), and cannot be far above it.
	sampled -= 2 << 20
	if reported < sampled*9/10 || reported > sampled*11/10+64<<10 {
		t.Errorf("reported peak %.2f MB, sampled from outside %.2f MB: want them close", float64(reported)/1e6, float64(sampled)/1e6)
	}
	if st.Blobs.TotalBytes < 3*size/2 {
		t.Errorf("the account has %.1f MB of blobs: want well over the %d MB disk", float64(st.Blobs.TotalBytes)/1e6, size>>20)
	}
	report(t, fmt.Sprintf("small-disk test (email token): %d records and %.1f MB of blobs through a 12 MB tmpfs in %s (two runs); reported peak %.2f MB, sampled peak %.2f MB (the 2 MB filler taken off)",
		st.Repo.Records, float64(st.Blobs.TotalBytes)/1e6, took.Round(100*time.Millisecond), float64(reported)/1e6, float64(sampled)/1e6))
}

// fillOnceBlobsLand writes a file of size bytes at path as soon as the
// first blob copy appears in the state dir's blobs/ (the window is sized
// by then), and sends how much it could write.
func fillOnceBlobsLand(t *testing.T, state, path string, size int) <-chan int {
	t.Helper()
	got := make(chan int, 1)
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if names, _ := filepath.Glob(filepath.Join(state, "blobs", "baf*")); len(names) > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		f, err := os.Create(path)
		if err != nil {
			got <- 0
			return
		}
		defer f.Close()
		n, _ := f.Write(make([]byte, size))
		got <- n
	}()
	return got
}
