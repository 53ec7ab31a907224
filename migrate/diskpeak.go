package migrate

import (
	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
)

// startDiskMeter begins measuring the run's own files in the state dir
// (the repo, the blob copies, temporary files, the state, anything else
// written there), for the peak the run reports. The dry run writes
// nothing there, and measures nothing.
func (d *stateDir) startDiskMeter() {
	if d.dry || d.meter != nil {
		return
	}
	d.meter = diskuse.StartMeter(d.files(), diskuse.Every)
}

// noteDiskPeak stops the meter and records the peak it measured, the
// most of any run of this migration, in the state (saved with it).
func (d *stateDir) noteDiskPeak() {
	if d.meter == nil || d.st == nil {
		return
	}
	peak := d.meter.Stop()
	d.journal().Update(func(st *checkpoint.State) {
		st.Disk.PeakBytes = max(st.Disk.PeakBytes, peak)
		st.Disk.Dir = d.files()
	})
}
