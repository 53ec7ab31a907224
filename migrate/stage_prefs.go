package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// preferences copies the preferences array as raw JSON: typed
// preferences drop unknown entries, so only the untyped call is lossless.
func (c *copyStages) preferences(ctx context.Context) (string, error) {
	if c.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	prefs, err := c.from.src.Preferences(ctx)
	if err != nil {
		return "", fmt.Errorf("read preferences from %s: %w", c.from.src.Name(), err)
	}
	if len(prefs) == 0 {
		prefs = json.RawMessage("[]")
	}
	var n []json.RawMessage
	_ = json.Unmarshal(prefs, &n)
	effect := Effect{Stage: stage.Preferences, What: fmt.Sprintf("write %d preferences to %s", len(n), c.opts.NewPDS)}
	if err := c.act.act(ctx, effect, func(ctx context.Context) error { return c.to.pds.PutPreferences(ctx, prefs) }); errors.Is(err, errRecorded) {
		return "", err
	} else if err != nil {
		return "", fmt.Errorf("write preferences to %s: %w", c.opts.NewPDS, err)
	}
	return fmt.Sprintf("%d preferences", len(n)), nil
}
