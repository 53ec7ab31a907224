package diskuse

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestUsedCountsEveryFileBelowDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"repo.car": 10_000, "state.json": 300, "blobs/a": 5_000, "blobs/.tmp-b": 100} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Used(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Allocated space: at least the bytes, at most each file rounded to
	// a few blocks (file systems differ in their block size).
	if n < 15_400 || n > 15_400+4*64<<10 {
		t.Errorf("used %d, want about 15,400 bytes (four files, rounded to blocks)", n)
	}
	if n, err := Used(filepath.Join(dir, "not-yet")); err != nil || n != 0 {
		t.Errorf("a dir not made yet: %d, %v; want 0, nil", n, err)
	}
}

func TestMeterKeepsThePeakAfterFilesGo(t *testing.T) {
	dir := t.TempDir()
	m := StartMeter(dir, time.Hour) // only pokes and the last sample
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 200_000), 0o600); err != nil {
		t.Fatal(err)
	}
	// Pokes are skipped while the last walk is recent (ten walks' time):
	// poke until one samples.
	for deadline := time.Now().Add(5 * time.Second); m.Peak() < 200_000 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		m.Poke()
	}
	if err := os.Remove(big); err != nil {
		t.Fatal(err)
	}
	if peak := m.Stop(); peak < 200_000 {
		t.Errorf("peak %d, want at least the 200,000-byte file it saw", peak)
	}
}

// TestMeterKeepsToItsBudget: however often the ticker fires, walks take
// no more than a 25th of the time (here checked at a 10th, for slack).
// The ticker used to walk at every tick: back to back with a 1 ms ticker.
func TestMeterKeepsToItsBudget(t *testing.T) {
	dir := t.TempDir()
	for i := range 3000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), []byte{1}, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	m := StartMeter(dir, time.Millisecond)
	time.Sleep(400 * time.Millisecond)
	m.Stop()
	elapsed := time.Since(start)
	m.mu.Lock()
	walked, one := m.walked, m.walkTook
	m.mu.Unlock()
	if budget := elapsed/10 + 2*one; walked > budget {
		t.Errorf("the meter walked for %v of %v (one walk: %v); want at most %v", walked, elapsed, one, budget)
	}
}

func TestOnDiskRoundsToBlocks(t *testing.T) {
	for n, want := range map[int64]int64{0: 0, 1: 4096, 4096: 4096, 4097: 8192, -5: 0} {
		if got := OnDisk(n); got != want {
			t.Errorf("OnDisk(%d) = %d, want %d", n, got, want)
		}
	}
}
