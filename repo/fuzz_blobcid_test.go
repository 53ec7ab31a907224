package repo

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// FuzzBlobCID feeds a blob "CID", as a server's listBlobs or a record
// names it, to the check that guards the blob store's file names: a string
// it accepts is one plain file name inside the store, never a path out of
// it, and names a CID whose hash the store knows how to check.
func FuzzBlobCID(f *testing.F) {
	for name, s := range map[string]string{
		"raw-sha256":   "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
		"dag-cbor":     "bafyreib2rxk3rh6kzwq3ttbfsk5lrd5ixdlzs7q5dbefdgpfhhxtnuzxnq",
		"cidv0":        "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
		"traversal":    "../../etc/passwd",
		"base32-upper": "BAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU",
		"empty":        "",
	} {
		fuzzcheck.Seed(f, name, s)
	}
	store := &BlobStore{Dir: "/store"}
	f.Fuzz(func(t *testing.T, s string) {
		fuzzcheck.Alloc(t, len(s), func() {
			c, err := parseBlobCID(s)
			if err != nil {
				return
			}
			if s != filepath.Base(s) || strings.ContainsAny(s, `/\`) || s == "." || s == ".." {
				t.Fatalf("accepted %q, which is not a plain file name", s)
			}
			if filepath.Dir(store.Path(s)) != store.Dir {
				t.Fatalf("%q maps to %s, outside the store", s, store.Path(s))
			}
			_, _ = hasherFor(c)
		})
	})
}
