package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/repo"
)

// Source reads a verified backup directory: the transfer.Source of a
// migration that never contacts the old PDS.
type Source struct {
	dir string
	man *Manifest
	key atcrypto.PublicKey // the key that signed the backup's repo
}

// NewSource reads the backup rep describes. rep is what Verify returned:
// a restore reads nothing it has not verified whole first.
func NewSource(rep *Report) *Source {
	return &Source{dir: rep.Dir, man: rep.Manifest, key: rep.Key}
}

// Key is the key the backup's repo was signed with: by the time a restore
// imports it, the DID's current key is another (a temporary one).
func (s *Source) Key() atcrypto.PublicKey { return s.key }

var _ transfer.Source = (*Source)(nil)

// Name says where the data comes from, for messages.
func (s *Source) Name() string { return "backup " + s.dir }

// ExportRepo copies repo.car to path (temp file and rename), through tee.
func (s *Source) ExportRepo(ctx context.Context, since, path string, tee io.Writer, onBytes func(int64)) (int64, error) {
	if since != "" {
		return 0, fmt.Errorf("a backup holds one full repo, not changes since %s", since)
	}
	in, err := os.Open(filepath.Join(s.dir, RepoFile))
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	var dst io.Writer = tmp
	if tee != nil {
		dst = io.MultiWriter(tmp, tee)
	}
	n, err := io.Copy(dst, &progressReader{r: in, ctx: ctx, on: onBytes})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	return n, os.Rename(tmp.Name(), path)
}

// LatestCommit is the backup's commit: nothing to catch up with.
func (s *Source) LatestCommit(context.Context) (string, string, error) {
	return s.man.Repo.Commit, s.man.Repo.Rev, nil
}

// FetchBlob reads blobs/<cid>, with the MIME type the account gave it
// (the upload to the new PDS sends it on).
func (s *Source) FetchBlob(_ context.Context, cid string, fn func(io.Reader, int64, string) error) error {
	store := &repo.BlobStore{Dir: filepath.Join(s.dir, BlobDir)}
	f, size, err := store.Open(cid)
	if err != nil {
		return fmt.Errorf("the backup has no blob %s: %w", cid, err)
	}
	defer f.Close()
	return fn(f, size, s.man.Blobs.MimeTypes[cid])
}

// Preferences reads preferences.json; a backup without it gives [].
func (s *Source) Preferences(context.Context) (json.RawMessage, error) {
	if _, ok := s.man.Files[PrefsFile]; !ok {
		return json.RawMessage("[]"), nil
	}
	b, err := fsutil.ReadUpTo(filepath.Join(s.dir, PrefsFile), maxPrefsBytes)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}

// progressReader reports the bytes of a copy as they go, and stops it
// when ctx is cancelled: a large repo.car is not copied to the end after
// the run was interrupted.
type progressReader struct {
	r   io.Reader
	ctx context.Context
	on  func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	if n > 0 && p.on != nil {
		p.on(int64(n))
	}
	return n, err
}
