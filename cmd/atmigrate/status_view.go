package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// statusView is a migration's state as `status` reports it, built once
// from the state file: the text and --json are two printings of it.
type statusView struct {
	StateDir  string    `json:"stateDir"`
	DID       string    `json:"did"`
	Handle    string    `json:"handle,omitempty"`
	OldPDS    string    `json:"oldPds,omitempty"`
	NewPDS    string    `json:"newPds,omitempty"`
	NewHandle string    `json:"newHandle,omitempty"`
	Updated   time.Time `json:"updated"`
	// Status is where the migration stands, in one word: migrated,
	// running, interrupted, paused-token, paused-didweb, failed (the same
	// command resumes), failed-permanent (fix the input first) or unknown
	// (a run killed before it could say how it ended).
	Status string `json:"status"`
	// Summary is Status in words, with what to do next.
	Summary string      `json:"summary"`
	PID     int         `json:"pid,omitempty"` // the running process, when Status is running
	Stages  []stageView `json:"stages"`
	Repo    repoView    `json:"repo"`
	Blobs   blobsView   `json:"blobs"`
	PLC     plcView     `json:"plc"`
	// PeakDiskBytes is the most the migration's files took in the state
	// dir at once, measured (0 before a run measured it).
	PeakDiskBytes int64 `json:"peakDiskBytes"`
	// LastError is the error the last run stopped with (or the reason it
	// paused).
	LastError *errorView `json:"lastError,omitempty"`
	// Network is what the relays and the AppView show now, once the DID
	// points at the new PDS (read live; absent with --relay none and
	// --appview none).
	Network *network.Seen `json:"network,omitempty"`
}

type stageView struct {
	Number int         `json:"number"`
	Name   stage.Stage `json:"name"`
	State  string      `json:"state"` // done, failed (the last run stopped in it) or pending
	Note   string      `json:"note,omitempty"`
}

type repoView struct {
	Records int    `json:"records"`
	Bytes   int64  `json:"bytes"`
	Rev     string `json:"rev,omitempty"`
}

type blobsView struct {
	Total      int                   `json:"total"`
	Bytes      int64                 `json:"bytes"`
	Uploaded   int                   `json:"uploaded"`
	Missing    []string              `json:"missing"` // on the new PDS, at the last check
	LeftBehind []checkpoint.LeftBlob `json:"leftBehind,omitempty"`
}

type plcView struct {
	OpCID          string     `json:"opCid,omitempty"`
	Method         string     `json:"method,omitempty"`
	TokenRequested *time.Time `json:"tokenRequested,omitempty"`
}

type errorView struct {
	Stage   stage.Stage `json:"stage,omitempty"`
	Message string      `json:"message"`
}

// newStatusView builds the view of st, read from dir; pid > 0 or running
// means a run holds the state dir now.
func newStatusView(dir string, st *checkpoint.State, pid int, running bool) statusView {
	v := statusView{
		StateDir: dir, DID: st.DID, Handle: st.Handle, OldPDS: st.OldPDS, NewPDS: st.NewPDS, NewHandle: st.NewHandle, Updated: st.Updated,
		Stages: []stageView{},
		Repo:   repoView{Records: st.Repo.Records, Bytes: st.Repo.Bytes, Rev: st.Repo.Rev},
		Blobs: blobsView{Total: st.Blobs.Total, Bytes: st.Blobs.TotalBytes, Uploaded: st.Blobs.Uploaded,
			Missing: append([]string{}, st.Blobs.Missing...), LeftBehind: st.Blobs.LeftBehind},
		PLC:           plcView{OpCID: st.PLC.OpCID, Method: st.PLC.Method},
		PeakDiskBytes: st.Disk.PeakBytes,
	}
	if !st.PLC.TokenRequested.IsZero() {
		t := st.PLC.TokenRequested
		v.PLC.TokenRequested = &t
	}
	if st.LastError != "" {
		v.LastError = &errorView{Stage: st.LastErrorStage, Message: say(st.LastError)}
	}
	for i, s := range stage.All {
		sv := stageView{Number: i + 1, Name: s, State: "pending"}
		if ss := st.Stages[s]; ss != nil && ss.Done {
			sv.State, sv.Note = "done", say(ss.Note)
		} else if st.LastErrorStage == s {
			sv.State = "failed"
		}
		v.Stages = append(v.Stages, sv)
	}
	v.Status, v.Summary = standing(st, pid, running)
	if running {
		v.PID = pid
	}
	return v
}

// standing is where the migration stands, as a word and in words.
func standing(st *checkpoint.State, pid int, running bool) (status, summary string) {
	resume := " (re-run the same command to resume)"
	stop := st.LastStop
	if stop == "" {
		stop = legacyStop(st)
	}
	switch {
	case st.Completed:
		return "migrated", "migrated"
	case running && pid > 0:
		return "running", fmt.Sprintf("running now (pid %d): the state is the run's so far", pid)
	case running:
		return "running", "running now: the state is the run's so far"
	case stop == checkpoint.StopInterrupted:
		return string(stop), "interrupted" + resume
	case stop == checkpoint.StopPausedToken, stop == checkpoint.StopPausedDIDWeb:
		return string(stop), "paused: " + orStr(st.LastError, "waiting") + " (the same command continues)"
	case stop == checkpoint.StopFailedPermanent:
		return string(stop), "stopped with an error that running again cannot fix alone (fix what it names, then re-run the same command)"
	case stop == checkpoint.StopFailed:
		return string(stop), "stopped with an error" + resume
	}
	return "unknown", "in progress or interrupted" + resume
}

// legacyStop reads how the last run ended from a state file written
// before atmigrate recorded it (LastStop): from the words that runs of
// that time wrote as the error. Newer files never come here.
func legacyStop(st *checkpoint.State) checkpoint.Stop {
	switch {
	case st.Completed:
		return checkpoint.StopCompleted
	case st.LastError == "interrupted":
		return checkpoint.StopInterrupted
	case strings.HasPrefix(st.LastError, "waiting for the did:web"):
		return checkpoint.StopPausedDIDWeb
	case strings.HasPrefix(st.LastError, "waiting for"):
		return checkpoint.StopPausedToken
	case st.LastError != "":
		return checkpoint.StopFailed
	}
	return ""
}

func (v statusView) print(w io.Writer) {
	fmt.Fprintf(w, "account   %s (%s)\n", v.DID, v.Handle)
	fmt.Fprintf(w, "from      %s\n", v.OldPDS)
	fmt.Fprintf(w, "to        %s as %s\n", v.NewPDS, v.NewHandle)
	fmt.Fprintf(w, "state     %s (updated %s)\n", v.StateDir, v.Updated.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(w, "status    %s\n", v.Summary)
	fmt.Fprintln(w)
	marks := map[string]string{"done": "[x]", "failed": "[!]", "pending": "[ ]"}
	for _, s := range v.Stages {
		fmt.Fprintf(w, "%s %2d %-15s %s\n", marks[s.State], s.Number, s.Name, s.Note)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "repo      %d records, %.1f MB, rev %s\n", v.Repo.Records, float64(v.Repo.Bytes)/1e6, v.Repo.Rev)
	fmt.Fprintf(w, "blobs     %d (%.1f MB), %d uploaded, %d missing on the new PDS\n", v.Blobs.Total, float64(v.Blobs.Bytes)/1e6, v.Blobs.Uploaded, len(v.Blobs.Missing))
	for i, c := range v.Blobs.Missing {
		if i == 20 {
			fmt.Fprintf(w, "          ... %d more\n", len(v.Blobs.Missing)-20)
			break
		}
		fmt.Fprintf(w, "          missing %s\n", c)
	}
	if v.PeakDiskBytes > 0 {
		fmt.Fprintf(w, "disk      at most %.1f MB of the migration's files at once (measured)\n", float64(v.PeakDiskBytes)/1e6)
	}
	if v.PLC.OpCID != "" {
		fmt.Fprintf(w, "plc op    %s (%s)\n", v.PLC.OpCID, v.PLC.Method)
	} else if v.PLC.TokenRequested != nil {
		fmt.Fprintf(w, "plc op    email token requested %s\n", v.PLC.TokenRequested.Local().Format("15:04:05"))
	}
	if v.LastError != nil {
		fmt.Fprintf(w, "error     %s: %s\n", v.LastError.Stage, v.LastError.Message)
	}
	if v.Network != nil {
		printSeen(w, *v.Network)
	}
}

// printSeen prints what the relays and the AppView show, a line each,
// with each warning under its line.
func printSeen(w io.Writer, seen network.Seen) {
	for _, r := range seen.Relays {
		fmt.Fprintf(w, "relay     %s\n", r.Line())
		if !r.OK() && r.Warning() != "" {
			fmt.Fprintf(w, "          warning: %s\n", say(r.Warning()))
		}
	}
	if a := seen.AppView; a != nil {
		fmt.Fprintf(w, "appview   %s\n", a.Line())
		if !a.OK() && a.Warning() != "" {
			fmt.Fprintf(w, "          warning: %s\n", say(a.Warning()))
		}
	}
}
