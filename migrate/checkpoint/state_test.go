package checkpoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

func TestStateSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "did:plc:abc")
	if st, err := Load(dir); err != nil || st != nil {
		t.Fatalf("missing state: %v %v, want a fresh start", st, err)
	}
	st := &State{DID: "did:plc:abc", NewPDS: "https://new.example"}
	st.Stage(stage.ExportRepo).Done = true
	st.Repo.Rev = "3kabc"
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done(stage.ExportRepo) || got.Done(stage.ImportRepo) || got.Repo.Rev != "3kabc" || got.Version != Version {
		t.Errorf("loaded %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestStateRefusesNewerFormat(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte(`{"version": 99}`), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("want a newer-format error, got %v", err)
	}
}

// TestStateHoldsNoSecret: the options carry passwords and tokens; nothing
// the pipeline saves may contain them.
func TestStateHoldsNoSecret(t *testing.T) {
	st := &State{DID: "did:plc:abc"}
	b, _ := json.Marshal(st)
	for _, field := range []string{"assword", "oken\":", "jwt", "Jwt"} {
		if strings.Contains(string(b), field) {
			t.Errorf("state JSON has a %q field: %s", field, b)
		}
	}
}
