package migrate

import (
	"context"
	"encoding/json"
	"fmt"
)

// stagePreferences copies the preferences array as raw JSON: typed
// preferences drop unknown entries, so only the untyped call is lossless.
func (m *Migrator) stagePreferences(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	prefs, err := m.src.Preferences(ctx)
	if err != nil {
		return "", fmt.Errorf("read preferences from %s: %w", m.src.Name(), err)
	}
	if len(prefs) == 0 {
		prefs = json.RawMessage("[]")
	}
	if err := m.new.PutPreferences(ctx, prefs); err != nil {
		return "", fmt.Errorf("write preferences to %s: %w", m.opts.NewPDS, err)
	}
	var n []json.RawMessage
	_ = json.Unmarshal(prefs, &n)
	return fmt.Sprintf("%d preferences", len(n)), nil
}
