package repo

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// tmpPrefix marks in-progress blob files; List and Has never report them,
// and OpenBlobStore removes any a crashed run left behind.
const tmpPrefix = ".tmp-"

// BlobStore is a directory of blob files, each named by its CID. Files
// appear under their final name only through a rename after the content
// was verified against the CID.
type BlobStore struct {
	Dir string
}

// OpenBlobStore creates dir (0700) if needed and removes temporary files
// left by an interrupted run. Only one process may write to a store.
func OpenBlobStore(dir string) (*BlobStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read blob dir: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("remove stale temp blob: %w", err)
			}
		}
	}
	return &BlobStore{Dir: dir}, nil
}

// Path returns where the blob with this CID is stored. The CID is not
// validated; Has, Write, Open and Verify refuse non-canonical CID strings,
// so a hostile "CID" can never escape Dir.
func (s *BlobStore) Path(c string) string {
	return filepath.Join(s.Dir, c)
}

// Has reports whether a complete blob file exists for c, and its size.
func (s *BlobStore) Has(c string) (size int64, ok bool) {
	if _, err := parseBlobCID(c); err != nil {
		return 0, false
	}
	fi, err := os.Stat(s.Path(c))
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

// Write streams r into the store as blob c. The bytes go to a temp file
// while being hashed; only if they hash to c (with c's own hash function)
// and, when expectedSize >= 0, their length is expectedSize, is the file
// renamed into place. Any mismatch returns an error wrapping
// ErrBlobMismatch and leaves nothing behind. There is no fsync per blob:
// call Sync once after a batch. It returns the number of bytes written.
func (s *BlobStore) Write(c string, r io.Reader, expectedSize int64) (int64, error) {
	parsed, err := parseBlobCID(c)
	if err != nil {
		return 0, err
	}
	h, err := hasherFor(parsed)
	if err != nil {
		return 0, fmt.Errorf("write blob %s: %w", c, err)
	}
	tmp, err := os.CreateTemp(s.Dir, tmpPrefix+c+"-*")
	if err != nil {
		return 0, fmt.Errorf("write blob %s: %w", c, err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()

	src := r
	if expectedSize >= 0 {
		// Read one byte past the expected size so an oversized body is
		// detected without writing an unbounded amount.
		src = io.LimitReader(r, expectedSize+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		return n, fmt.Errorf("write blob %s: %w", c, err)
	}
	if expectedSize >= 0 && n != expectedSize {
		return n, fmt.Errorf("write blob %s: got %d bytes, want %d: %w", c, n, expectedSize, ErrBlobMismatch)
	}
	if err := checkSum(parsed, h); err != nil {
		return n, fmt.Errorf("write blob %s: %w", c, err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("write blob %s: %w", c, err)
	}
	if err := fsutil.CommitTemp(tmpName, s.Path(c)); err != nil {
		return n, fmt.Errorf("write blob %s: %w", c, err)
	}
	committed = true
	return n, nil
}

// Open opens the stored blob c for reading and returns its size.
func (s *BlobStore) Open(c string) (*os.File, int64, error) {
	if _, err := parseBlobCID(c); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(s.Path(c))
	if err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat blob: %w", err)
	}
	return f, fi.Size(), nil
}

// Verify re-hashes the stored blob c, e.g. to check a backup. A mismatch
// wraps ErrBlobMismatch; the error names the file.
func (s *BlobStore) Verify(c string) error {
	f, _, err := s.Open(c)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := CheckCID(c, f); err != nil {
		return fmt.Errorf("verify blob file %s: %w", f.Name(), err)
	}
	return nil
}

// List returns the CIDs of the blobs present, sorted. Temporary files and
// names that are not canonical CIDs are skipped.
func (s *BlobStore) List() ([]string, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if _, err := parseBlobCID(e.Name()); err != nil {
			continue
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// Sync fsyncs the store directory so that blobs renamed into it survive a
// power loss.
func (s *BlobStore) Sync() error {
	return fsutil.SyncDir(s.Dir)
}

// CheckCID hashes r with c's hash function and checks the result is c,
// e.g. for blob bytes fetched from a server. A mismatch wraps
// ErrBlobMismatch. It returns the number of bytes read.
func CheckCID(c string, r io.Reader) (int64, error) {
	parsed, err := parseBlobCID(c)
	if err != nil {
		return 0, err
	}
	h, err := hasherFor(parsed)
	if err != nil {
		return 0, fmt.Errorf("check blob %s: %w", c, err)
	}
	n, err := io.Copy(h, r)
	if err != nil {
		return n, fmt.Errorf("check blob %s: %w", c, err)
	}
	if err := checkSum(parsed, h); err != nil {
		return n, fmt.Errorf("check blob %s: %w", c, err)
	}
	return n, nil
}

// parseBlobCID accepts only canonical CID strings (the form that names
// files), which also rules out path separators and "..".
func parseBlobCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("invalid blob CID %q: %w", s, err)
	}
	if c.String() != s {
		return cid.Undef, fmt.Errorf("invalid blob CID %q: not in canonical form", s)
	}
	return c, nil
}

func hasherFor(c cid.Cid) (hash.Hash, error) {
	h, err := multihash.GetHasher(c.Prefix().MhType)
	if err != nil {
		return nil, fmt.Errorf("unsupported hash in CID %s: %w", c, err)
	}
	return h, nil
}

func checkSum(c cid.Cid, h hash.Hash) error {
	ok, err := digestMatches(c.Hash(), h.Sum(nil))
	if err != nil {
		return fmt.Errorf("decode CID hash: %w", err)
	}
	if !ok {
		return fmt.Errorf("content hash differs from CID %s: %w", c, ErrBlobMismatch)
	}
	return nil
}
