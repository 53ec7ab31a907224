package plc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/bodylimit"
)

// The directory's answers are read through these limits (bodylimit), so a
// runaway or hostile directory makes a clear error, not an OOM.
const (
	// maxLogBytes bounds an audit log. An entry is at most about 6 kB of
	// JSON (the directory refuses operations over 4,000 bytes of CBOR),
	// typically 1.3 kB: 32 MB holds over 5,000 of the largest, a year of
	// the directory's own cap of 100 operations a week; real DIDs have a
	// handful.
	maxLogBytes = 32_000_000
	// maxDataBytes bounds one document's data (GET /{did}/data): a single
	// operation's fields, under 10 kB.
	maxDataBytes = 1_000_000
)

// decodeAuditLog decodes a directory's audit log answer. It does not
// verify it (StateFromLog does).
func decodeAuditLog(r io.Reader) ([]didplc.LogEntry, error) {
	var log []didplc.LogEntry
	if err := decodeJSON(r, &log); err != nil {
		return nil, err
	}
	return log, nil
}

// decodeJSON decodes an answer already limited by get; an answer over the
// limit keeps its *bodylimit.TooLargeError, which says it all.
func decodeJSON(r io.Reader, out any) error {
	err := json.NewDecoder(r).Decode(out)
	var tl *bodylimit.TooLargeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tl):
		return tl
	}
	return fmt.Errorf("decode: %w", err)
}
