package repo

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func blobCID(t *testing.T, data []byte) string {
	t.Helper()
	c, err := cid.NewPrefixV1(cid.Raw, multihash.SHA2_256).Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	return c.String()
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestBlobStoreRoundTrip(t *testing.T) {
	s, err := OpenBlobStore(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("blob dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	data := bytes.Repeat([]byte("blob content "), 1000)
	c := blobCID(t, data)
	if _, ok := s.Has(c); ok {
		t.Fatal("Has before Write")
	}
	n, err := s.Write(c, bytes.NewReader(data), int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if size, ok := s.Has(c); !ok || size != int64(len(data)) {
		t.Fatalf("Has = %d, %v", size, ok)
	}
	f, size, err := s.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("Open read %d bytes (size %d), err %v", len(got), size, err)
	}
	if err := s.Verify(c); err != nil {
		t.Fatal(err)
	}
	// Unknown size is fine too.
	other := []byte("second blob")
	oc := blobCID(t, other)
	if _, err := s.Write(oc, bytes.NewReader(other), -1); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{c, oc}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if strings.Join(list, ",") != strings.Join(want, ",") {
		t.Fatalf("List = %v, want %v", list, want)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}

	// Corrupt the stored file: Verify must name it.
	if err := os.WriteFile(s.Path(c), []byte("corrupted"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.Verify(c)
	if !errors.Is(err, ErrBlobMismatch) || !strings.Contains(err.Error(), s.Path(c)) {
		t.Fatalf("Verify corrupted = %v, want ErrBlobMismatch naming %s", err, s.Path(c))
	}
}

func TestBlobStoreWriteMismatchLeavesNothing(t *testing.T) {
	data := []byte("the real blob bytes")
	c := blobCID(t, data)
	cases := map[string]struct {
		r    io.Reader
		size int64
	}{
		"wrong content":       {bytes.NewReader([]byte("something else entirely")), -1},
		"wrong content sized": {bytes.NewReader([]byte("the real blob byteX")), int64(len(data))},
		"truncated":           {bytes.NewReader(data[:10]), int64(len(data))},
		"truncated unsized":   {bytes.NewReader(data[:10]), -1},
		"too long":            {io.MultiReader(bytes.NewReader(data), strings.NewReader("extra")), int64(len(data))},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := OpenBlobStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Write(c, tc.r, tc.size)
			if !errors.Is(err, ErrBlobMismatch) {
				t.Fatalf("Write err = %v, want ErrBlobMismatch", err)
			}
			if names := dirNames(t, s.Dir); len(names) != 0 {
				t.Fatalf("files left behind: %v", names)
			}
			if _, ok := s.Has(c); ok {
				t.Fatal("Has after failed Write")
			}
		})
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestBlobStoreReadErrorLeavesNothing(t *testing.T) {
	s, err := OpenBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := blobCID(t, []byte("whatever"))
	if _, err := s.Write(c, &failingReader{n: 5000}, 10000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Write err = %v, want the reader's error", err)
	}
	if names := dirNames(t, s.Dir); len(names) != 0 {
		t.Fatalf("files left behind: %v", names)
	}
}

func TestBlobStoreRejectsBadCIDs(t *testing.T) {
	s, err := OpenBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../escape", "", "notacid", strings.ToUpper(blobCID(t, []byte("x")))} {
		if _, err := s.Write(bad, strings.NewReader("x"), -1); err == nil {
			t.Errorf("Write(%q) accepted", bad)
		}
		if _, ok := s.Has(bad); ok {
			t.Errorf("Has(%q) = true", bad)
		}
	}
}

func TestOpenBlobStoreRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, tmpPrefix+"bafkreistale-123")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenBlobStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file still there: %v", err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
}

func TestCheckCID(t *testing.T) {
	data := []byte("fetched from a server")
	c := blobCID(t, data)
	if n, err := CheckCID(c, bytes.NewReader(data)); err != nil || n != int64(len(data)) {
		t.Fatalf("CheckCID = %d, %v", n, err)
	}
	if _, err := CheckCID(c, strings.NewReader("tampered")); !errors.Is(err, ErrBlobMismatch) {
		t.Fatalf("CheckCID tampered = %v, want ErrBlobMismatch", err)
	}
	// A dag-cbor CID with a different hash function is checked with that
	// function, not sha2-256.
	bc, err := cid.NewPrefixV1(cid.Raw, multihash.BLAKE2B_MIN+31).Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckCID(bc.String(), bytes.NewReader(data)); err != nil {
		t.Fatalf("CheckCID blake2b = %v", err)
	}
	if _, err := CheckCID(bc.String(), strings.NewReader("tampered")); !errors.Is(err, ErrBlobMismatch) {
		t.Fatalf("CheckCID blake2b tampered = %v", err)
	}
}
