package migrate

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// Source is where the account's data comes from: the old PDS, or a backup
// directory when the old PDS is gone.
type Source interface {
	// Name says where the data comes from, for messages.
	Name() string
	// ExportRepo writes the repo CAR (a diff after since, when since is
	// non-empty) to path, copying the bytes to tee when non-nil.
	ExportRepo(ctx context.Context, since, path string, tee io.Writer, onBytes func(int64)) (int64, error)
	// LatestCommit returns the newest commit CID and rev.
	LatestCommit(ctx context.Context) (cid, rev string, err error)
	// FetchBlob calls fn with the blob's bytes.
	FetchBlob(ctx context.Context, cid string, fn func(body io.Reader, size int64, contentType string) error) error
	// Preferences returns the raw preferences array.
	Preferences(ctx context.Context) (json.RawMessage, error)
}

// pdsSource reads from a live PDS with the account's own session, so a
// deactivated account can still be read.
type pdsSource struct {
	c   *pds.Client
	did string
}

func (s *pdsSource) Name() string { return s.c.Host() }

func (s *pdsSource) ExportRepo(ctx context.Context, since, path string, tee io.Writer, onBytes func(int64)) (int64, error) {
	return s.c.DownloadRepo(ctx, s.did, since, path, tee, onBytes)
}

func (s *pdsSource) LatestCommit(ctx context.Context) (string, string, error) {
	return s.c.GetLatestCommit(ctx, s.did)
}

func (s *pdsSource) FetchBlob(ctx context.Context, cid string, fn func(io.Reader, int64, string) error) error {
	return s.c.FetchBlob(ctx, s.did, cid, fn)
}

func (s *pdsSource) Preferences(ctx context.Context) (json.RawMessage, error) {
	return s.c.GetPreferences(ctx)
}

// serviceAuthTTL is how long the createAccount service token lives. The
// reference PDS caps tokens with an lxm at one hour; a minute is plenty as
// it is used at once.
const serviceAuthTTL = 60 * time.Second

// errRestartWithTee: a download had to start over while a verifier was
// reading along; the verifier must start over too.
var errRestartWithTee = pds.ErrRestartWithTee
