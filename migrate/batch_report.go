package migrate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
)

// Report file names inside a batch's state dir.
const (
	BatchReportJSON = "report.json"
	BatchReportCSV  = "report.csv"
)

// BatchReport is report.json.
type BatchReport struct {
	Generated time.Time     `json:"generated"`
	NewPDS    string        `json:"newPds"`
	Summary   BatchSummary  `json:"summary"`
	Accounts  []*BatchEntry `json:"accounts"`
}

// WriteBatchReport writes report.json and report.csv into dir (atomically,
// 0600: they name accounts and their errors).
func WriteBatchReport(dir string, idx *BatchIndex) error {
	rep := BatchReport{Generated: time.Now().UTC(), NewPDS: idx.NewPDS, Summary: idx.Summary(), Accounts: idx.Accounts}
	j, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, BatchReportJSON), append(j, '\n'), 0o600); err != nil {
		return err
	}
	var c bytes.Buffer
	if err := WriteBatchCSV(&c, idx.Accounts); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, BatchReportCSV), c.Bytes(), 0o600)
}

// WriteBatchCSV writes the report as CSV with a header row.
func WriteBatchCSV(w io.Writer, entries []*BatchEntry) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"account", "did", "status", "stage", "records", "blobs", "bytes", "seconds", "plc_method", "error", "hint"})
	for _, e := range entries {
		_ = cw.Write([]string{
			e.Account, e.DID, string(e.Status), string(e.Stage),
			strconv.Itoa(e.Records), strconv.Itoa(e.Blobs), strconv.FormatInt(e.Bytes, 10),
			strconv.FormatFloat(e.Seconds, 'f', 1, 64), e.PLCMethod, e.Error, e.Hint,
		})
	}
	cw.Flush()
	return cw.Error()
}

// WriteBatchTable prints the summary table for people.
func WriteBatchTable(w io.Writer, entries []*BatchEntry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tDID\tSTATUS\tRECORDS\tBLOBS\tSIZE\tTIME\tERROR")
	for _, e := range entries {
		msg := e.Error
		if e.Status == BatchMigrated {
			msg = ""
		}
		if len(msg) > 100 {
			msg = msg[:97] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.Account, orDefault(e.DID, "-"), e.Status,
			e.Records, e.Blobs, humanBytes(e.Bytes), (time.Duration(e.Seconds * float64(time.Second))).Round(100*time.Millisecond), msg)
	}
	tw.Flush()
	s := summarize(entries)
	fmt.Fprintf(w, "\n%d accounts: %d migrated, %d failed, %d failed-permanent, %d awaiting-token, %d pending",
		s.Total, s.Migrated, s.Failed, s.FailedPermanent, s.AwaitingToken, s.Pending)
	if s.Running > 0 {
		fmt.Fprintf(w, ", %d running", s.Running)
	}
	fmt.Fprintf(w, "; %s moved\n", humanBytes(s.Bytes))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// LoadBatchStatus reads a batch's index and brings each entry up to date
// from its account's state file (a single-account run may have finished
// it). An account marked running while no batch holds the lock was
// interrupted.
func LoadBatchStatus(dir string) (*BatchIndex, error) {
	idx, err := LoadBatchIndex(dir)
	if err != nil || idx == nil {
		return idx, err
	}
	running := false
	if unlock, held, err := lockFile(filepath.Join(dir, "batch.lock")); err == nil {
		running = held
		if !held {
			unlock()
		}
	}
	for _, e := range idx.Accounts {
		refreshEntry(dir, e)
		if e.Status == BatchRunning && !running {
			e.Status, e.Error = BatchPending, "interrupted"
		}
	}
	return idx, nil
}
