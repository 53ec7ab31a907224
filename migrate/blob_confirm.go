package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/repo"
)

// What proves a blob is on the new PDS. listMissingBlobs being empty is
// necessary but is the server's own bookkeeping, and so are
// checkAccountStatus's counts (another implementation reports
// importedBlobs: 0 whatever it holds): those are shown, never trusted. A
// blob is confirmed when the new PDS answered our upload with its CID (it
// hashed the bytes it kept), or when it was fetched back from the new PDS
// and hashed here. Confirmations are kept in the state, so a resumed run
// fetches back only what no earlier run saw confirmed.

// confirmBlob records that the new PDS holds cid.
func (m *Migrator) confirmBlob(cid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.confirmed == nil {
		m.loadConfirmedLocked()
	}
	if !m.confirmed[cid] {
		m.confirmed[cid] = true
		m.journal().Update(func(st *checkpoint.State) { st.Blobs.Confirmed = append(st.Blobs.Confirmed, cid) })
	}
}

func (m *Migrator) isConfirmed(cid string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.confirmed == nil {
		m.loadConfirmedLocked()
	}
	return m.confirmed[cid]
}

func (m *Migrator) loadConfirmedLocked() {
	m.journal().Update(func(st *checkpoint.State) {
		m.confirmed = make(map[string]bool, len(st.Blobs.Confirmed))
		for _, c := range st.Blobs.Confirmed {
			m.confirmed[c] = true
		}
	})
}

// unconfirmed is the blobs to move that the new PDS does not list as
// missing but that nothing has confirmed yet.
func (m *Migrator) unconfirmed(missing []pds.MissingBlob) []repo.BlobRef {
	skip := map[string]bool{}
	for _, b := range missing {
		skip[b.CID] = true
	}
	var out []repo.BlobRef
	for _, b := range m.movable(m.blobRefs) {
		if !skip[b.CID] && !m.isConfirmed(b.CID) {
			out = append(out, b)
		}
	}
	return out
}

// fetchBack fetches each blob from the new PDS and hashes it, confirming
// those that match. It returns the ones that could not be confirmed, with
// why; an error is for what stops it altogether (a cancelled run).
func (m *Migrator) fetchBack(ctx context.Context, refs []repo.BlobRef) (map[string]error, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	m.prog.Info(fmt.Sprintf("fetching back %d blob(s) from the new PDS that no earlier run saw it confirm", len(refs)))
	var mu sync.Mutex
	bad := map[string]error{}
	workers.Each(ctx, refs, m.opts.Concurrency, func(b repo.BlobRef) {
		err := m.new.FetchBlob(ctx, m.did, b.CID, func(body io.Reader, _ int64, _ string) error {
			_, err := repo.CheckCID(b.CID, body)
			if errors.Is(err, repo.ErrBlobMismatch) {
				return fmt.Errorf("%w: %v", pds.ErrCorruptBody, err)
			}
			return err
		})
		if err == nil {
			m.confirmBlob(b.CID)
			return
		}
		mu.Lock()
		bad[b.CID] = err
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return bad, nil
}
