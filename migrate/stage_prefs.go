package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// stagePreferences copies the preferences array as raw JSON: typed
// preferences drop unknown entries, so only the untyped call is lossless.
func (m *Migrator) stagePreferences(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	prefs, err := m.from.src.Preferences(ctx)
	if err != nil {
		return "", fmt.Errorf("read preferences from %s: %w", m.from.src.Name(), err)
	}
	if len(prefs) == 0 {
		prefs = json.RawMessage("[]")
	}
	var n []json.RawMessage
	_ = json.Unmarshal(prefs, &n)
	effect := Effect{Stage: stage.Preferences, What: fmt.Sprintf("write %d preferences to %s", len(n), m.opts.NewPDS)}
	if err := m.act.act(ctx, effect, func(ctx context.Context) error { return m.to.pds.PutPreferences(ctx, prefs) }); errors.Is(err, errRecorded) {
		return "", err
	} else if err != nil {
		return "", fmt.Errorf("write preferences to %s: %w", m.opts.NewPDS, err)
	}
	return fmt.Sprintf("%d preferences", len(n)), nil
}
