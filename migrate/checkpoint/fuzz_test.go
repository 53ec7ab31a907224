package checkpoint

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// FuzzLoadState feeds a state file, whatever its bytes (a file cut by a
// crash on a filesystem without atomic rename, hand-edited, written by
// another version), to Load. Load accepts it or says why; what it
// accepts saves and loads back to the same state.
func FuzzLoadState(f *testing.F) {
	st := Fresh(Target{DID: "did:plc:abc", NewPDS: "https://new.example", PLCURL: "https://plc.directory"})
	st.Started = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	st.Stage(stage.ExportRepo).Done = true
	st.Repo.Rev = "3kabc"
	st.AccountCreated = true
	st.PLC.SignedOp = json.RawMessage(`{"type":"plc_operation","prev":"bafy","sig":"x"}`)
	real, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		f.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"real":         real,
		"truncated":    real[:len(real)/2],
		"newer":        bytes.Replace(real, []byte(`"version": 0`), []byte(`"version": 99`), 1),
		"empty-object": []byte(`{}`),
		"null":         []byte(`null`),
		"stages-null":  []byte(`{"did":"did:plc:abc","stages":{"export-repo":null}}`),
		"bad-time":     []byte(`{"started":"yesterday"}`),
		"deep-nesting": []byte(`{"plc":{"signedOp":` + strings.Repeat("[", 50000) + `}}`),
		"empty":        {},
	} {
		fuzzcheck.Seed(f, name, data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		fuzzcheck.Alloc(t, len(data), func() {
			st, err := Load(dir)
			if err != nil {
				return
			}
			if st == nil || st.Stages == nil {
				t.Fatal("accepted, but no state or no stage map")
			}
			fuzzcheck.RoundTrip(t, "state", st, func(dir string, st *State) error { return st.Save(dir) }, Load)
		})
	})
}
