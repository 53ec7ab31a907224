package transfer

import (
	"context"
	"encoding/json"
	"io"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// Source is where the account's data comes from: the old PDS, or a backup
// directory when the old PDS is gone.
type Source interface {
	// Name says where the data comes from, for messages.
	Name() string
	// ExportRepo writes the repo CAR (a diff after since, when since is
	// non-empty) to path, copying the bytes to tee when non-nil. When it
	// returns nil, path holds every byte tee got, at the same offsets: the
	// verifier reading tee reads the MST back from path.
	ExportRepo(ctx context.Context, since, path string, tee io.Writer, onBytes func(int64)) (int64, error)
	// LatestCommit returns the newest commit CID and rev.
	LatestCommit(ctx context.Context) (cid, rev string, err error)
	// FetchBlob calls fn with the blob's bytes.
	FetchBlob(ctx context.Context, cid string, fn func(body io.Reader, size int64, contentType string) error) error
	// Preferences returns the raw preferences array.
	Preferences(ctx context.Context) (json.RawMessage, error)
}

// PDSSource reads from a live PDS. With a logged-in client a deactivated
// account can still be read; sync.getRepo and getBlob need no session.
type PDSSource struct {
	Client *pds.Client
	DID    string
}

// Name is the PDS's host.
func (s *PDSSource) Name() string { return s.Client.Host() }

// ExportRepo downloads the repo (or the diff since a rev).
func (s *PDSSource) ExportRepo(ctx context.Context, since, path string, tee io.Writer, onBytes func(int64)) (int64, error) {
	return s.Client.DownloadRepo(ctx, s.DID, since, path, tee, onBytes)
}

// LatestCommit asks the PDS for the repo's head.
func (s *PDSSource) LatestCommit(ctx context.Context) (string, string, error) {
	return s.Client.GetLatestCommit(ctx, s.DID)
}

// FetchBlob downloads one blob.
func (s *PDSSource) FetchBlob(ctx context.Context, cid string, fn func(io.Reader, int64, string) error) error {
	return s.Client.FetchBlob(ctx, s.DID, cid, fn)
}

// Preferences reads the account's preferences (needs the session).
func (s *PDSSource) Preferences(ctx context.Context) (json.RawMessage, error) {
	return s.Client.GetPreferences(ctx)
}
