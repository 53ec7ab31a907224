package transfer

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/repo"
)

// listFile holds the blob list in the state dir.
const listFile = "blobs.json"

// List is the blobs the exported repo references, with their sizes and
// types. It is kept in the state dir, so that a resumed run knows them
// without downloading the repo again, and its totals in the state, for
// `status`.
type List struct {
	path string
	refs []repo.BlobRef
	j    *checkpoint.Journal
}

// NewList is the blob list kept in dir ("": kept in memory only, as the
// dry run's), its totals recorded through j.
func NewList(dir string, j *checkpoint.Journal) *List {
	l := &List{j: j}
	if dir != "" {
		l.path = filepath.Join(dir, listFile)
	}
	return l
}

// Refs is the list.
func (l *List) Refs() []repo.BlobRef { return l.refs }

// Set replaces the list, records its totals and writes it.
func (l *List) Set(refs []repo.BlobRef) error {
	l.refs = refs
	var total, largest int64
	for _, b := range refs {
		total += max(b.Size, 0)
		largest = max(largest, b.Size)
	}
	l.j.Update(func(st *checkpoint.State) {
		st.Blobs.Total, st.Blobs.TotalBytes, st.Blobs.Largest = len(refs), total, largest
	})
	if l.path == "" {
		return nil
	}
	b, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(l.path, b, 0o600)
}

// Add merges blobs referenced by a later diff into the list.
func (l *List) Add(refs []repo.BlobRef) error {
	seen := map[string]bool{}
	for _, b := range l.refs {
		seen[b.CID] = true
	}
	all := append([]repo.BlobRef(nil), l.refs...)
	for _, b := range refs {
		if !seen[b.CID] {
			all = append(all, b)
			seen[b.CID] = true
		}
	}
	return l.Set(all)
}

// Load reads the list an earlier run wrote.
func (l *List) Load() error {
	b, err := os.ReadFile(l.path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &l.refs)
}

// byCID indexes the list.
func (l *List) byCID() map[string]repo.BlobRef {
	m := make(map[string]repo.BlobRef, len(l.refs))
	for _, b := range l.refs {
		m[b.CID] = b
	}
	return m
}
