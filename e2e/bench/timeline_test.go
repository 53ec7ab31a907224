package main

import (
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/timeline"
)

func TestFloorStepsAreStages(t *testing.T) {
	rec := timeline.NewRecorder()
	st := &floorSteps{rec: rec}
	st.begin(stage.CreateAccount)
	st.begin(stage.ExportRepo) // ends the account step
	st.end()
	st.end() // nothing runs: no-op
	tl := rec.Timeline("floor", timeline.Roles{})
	if len(tl.Stages) != 2 || tl.Stages[0].State != "done" || tl.Stages[1].State != "done" || tl.Stages[1].Name != "export-repo" {
		t.Errorf("stages %+v", tl.Stages)
	}
	if recObserver(nil) != nil {
		t.Error("no recorder, yet an observer")
	}
	(&floorSteps{}).begin(stage.Blobs) // no recorder: fine
}

func TestMedianCounts(t *testing.T) {
	rs := []RunResult{
		{RequestsPerStage: Counts{"blobs": {"new PDS": 10, "old PDS": 10}}},
		{RequestsPerStage: Counts{"blobs": {"new PDS": 12}}},
		{RequestsPerStage: Counts{"blobs": {"new PDS": 11, "old PDS": 10}}},
	}
	got := medianCounts(rs, func(r RunResult) Counts { return r.RequestsPerStage })
	if got["blobs"]["new PDS"] != 11 || got["blobs"]["old PDS"] != 10 {
		t.Errorf("medians %v", got)
	}
	var b strings.Builder
	printRequestCounts(&b, &Report{Accounts: []AccountSummary{{Name: "S", RequestsPerStage: got, FloorRequestsPerStage: got}}})
	if !strings.Contains(b.String(), "S: atmigrate's requests per stage") || !strings.Contains(b.String(), "blobs") {
		t.Errorf("table:\n%s", b.String())
	}
}
