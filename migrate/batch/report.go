package batch

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/network"
)

// Report file names inside a batch's state dir.
const (
	ReportJSON = "report.json"
	ReportCSV  = "report.csv"
)

// Report is report.json.
type Report struct {
	Generated time.Time `json:"generated"`
	NewPDS    string    `json:"newPds"`
	Summary   Summary   `json:"summary"`
	// RelayHosts is how each relay saw the new PDS's host before the run.
	RelayHosts []network.HostView `json:"relayHosts,omitempty"`
	Accounts   []*Entry           `json:"accounts"`
}

// WriteReport writes report.json and report.csv into dir (atomically,
// 0600: they name accounts and their errors).
func WriteReport(dir string, idx *Index) error {
	rep := Report{Generated: time.Now().UTC(), NewPDS: idx.NewPDS, Summary: idx.Summary(), RelayHosts: idx.RelayHosts, Accounts: idx.Accounts}
	j, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, ReportJSON), append(j, '\n'), 0o600); err != nil {
		return err
	}
	var c bytes.Buffer
	if err := WriteCSV(&c, idx.Accounts); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, ReportCSV), c.Bytes(), 0o600)
}

// WriteCSV writes the report as CSV with a header row.
func WriteCSV(w io.Writer, entries []*Entry) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"account", "did", "status", "stage", "records", "blobs", "bytes", "seconds", "plc_method", "error", "hint", "relay", "throttled_by"})
	for _, e := range entries {
		_ = cw.Write([]string{
			e.Account, e.DID, string(e.Status), string(e.Stage),
			strconv.Itoa(e.Records), strconv.Itoa(e.Blobs), strconv.FormatInt(e.Bytes, 10),
			strconv.FormatFloat(e.Seconds, 'f', 1, 64), e.PLCMethod, e.Error, e.Hint, relayWord(e), strings.Join(e.Throttled, " "),
		})
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable prints the summary table for people.
func WriteTable(w io.Writer, entries []*Entry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tDID\tSTATUS\tRECORDS\tBLOBS\tSIZE\tTIME\tRELAY\tERROR")
	for _, e := range entries {
		msg := e.Error
		if e.Status == Migrated {
			msg = ""
		}
		if len(msg) > 100 {
			msg = msg[:97] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", e.Account, dashIfEmpty(e.DID), e.Status,
			e.Records, e.Blobs, units.HumanBytes(e.Bytes), (time.Duration(e.Seconds * float64(time.Second))).Round(100*time.Millisecond), dashIfEmpty(relayWord(e)), msg)
	}
	tw.Flush()
	s := summarize(entries)
	fmt.Fprintf(w, "\n%d accounts: %d migrated, %d failed, %d failed-permanent, %d awaiting-token, %d pending",
		s.Total, s.Migrated, s.Failed, s.FailedPermanent, s.AwaitingToken, s.Pending)
	if s.Running > 0 {
		fmt.Fprintf(w, ", %d running", s.Running)
	}
	fmt.Fprintf(w, "; %s moved\n", units.HumanBytes(s.Bytes))
	if s.Throttled > 0 {
		var names []string
		for _, e := range entries {
			if len(e.Throttled) > 0 {
				names = append(names, e.Account)
			}
		}
		fmt.Fprintf(w, "%d migrated account(s) a relay holds throttled (past the new PDS's account limit there, so the network does not see them yet): %s\n", s.Throttled, strings.Join(names, ", "))
		fmt.Fprintln(w, "  ask the relay's operator to raise the host's account limit, then run the same batch command again: it asks the relays to look again")
	}
}

// LoadStatus reads a batch's index and brings each entry up to date
// from its account's state file (a single-account run may have finished
// it). An account marked running while no batch holds the lock was
// interrupted.
func LoadStatus(dir string) (*Index, error) {
	idx, err := LoadIndex(dir)
	if err != nil || idx == nil {
		return idx, err
	}
	running := batchRunning(dir)
	for _, e := range idx.Accounts {
		refreshEntry(dir, e)
		if e.Status == Running && !running {
			e.Status, e.Error = Pending, "interrupted"
		}
	}
	return idx, nil
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
