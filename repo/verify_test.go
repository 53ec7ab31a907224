package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/repo/repotest"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/ipfs/go-cid"
)

const testDID = "did:plc:abcdefghijklmnopqrstuvwx"

func newKey(t testing.TB) atcrypto.PrivateKey {
	t.Helper()
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubKey(t testing.TB, k atcrypto.PrivateKey) atcrypto.PublicKey {
	t.Helper()
	p, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pubKeys is the public half of each key, in order, for VerifyOptions.Keys.
func pubKeys(t testing.TB, ks ...atcrypto.PrivateKey) []atcrypto.PublicKey {
	t.Helper()
	out := make([]atcrypto.PublicKey, len(ks))
	for i, k := range ks {
		out[i] = pubKey(t, k)
	}
	return out
}

func buildRepo(t testing.TB, nRecords, nBlobs int) (*repotest.Repo, atcrypto.PrivateKey) {
	t.Helper()
	key := newKey(t)
	_, r, err := repotest.BuildCAR(nRecords, nBlobs, key, testDID)
	if err != nil {
		t.Fatal(err)
	}
	return r, key
}

func writeCAR(t testing.TB, r *repotest.Repo, keep func(repotest.Block) bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteCAR(&buf, keep); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantVerifyError asserts err is a *VerifyError whose message contains all
// of the fragments.
func wantVerifyError(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("verification passed, want error containing %q", fragments)
	}
	t.Logf("error: %v", err)
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *VerifyError", err, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not contain %q", err, f)
		}
	}
}

func TestVerifyCARValid(t *testing.T) {
	r, key := buildRepo(t, 300, 5)
	car := r.CAR()
	var paths []string
	sum, err := VerifyCAR(context.Background(), bytes.NewReader(car), VerifyOptions{
		DID:  testDID,
		Keys: pubKeys(t, key),
		Records: func(path, c string) error {
			if want := r.Records[path].String(); c != want {
				t.Errorf("record %s: callback CID %s, want %s", path, c, want)
			}
			paths = append(paths, path)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DID != testDID || sum.Rev != r.Rev || sum.Commit != r.CommitCID.String() || sum.Data != r.Data.String() {
		t.Errorf("summary header = %+v, want did %s rev %s commit %s data %s", sum, testDID, r.Rev, r.CommitCID, r.Data)
	}
	if sum.Records != 300 || len(paths) != 300 {
		t.Errorf("records = %d, callbacks = %d, want 300", sum.Records, len(paths))
	}
	if !sort.StringsAreSorted(paths) {
		t.Error("record callbacks not in key order")
	}
	if sum.Blocks != len(r.Blocks) {
		t.Errorf("blocks = %d, want %d", sum.Blocks, len(r.Blocks))
	}
	if sum.Bytes != int64(len(car)) {
		t.Errorf("bytes = %d, want %d", sum.Bytes, len(car))
	}
	// 5 distinct blobs, one referenced twice.
	if len(sum.Blobs) != 5 {
		t.Fatalf("blobs = %d, want 5: %+v", len(sum.Blobs), sum.Blobs)
	}
	for i, b := range sum.Blobs {
		data, ok := r.Blobs[b.CID]
		if !ok {
			t.Errorf("blob %s not one the repo referenced", b.CID)
		}
		if b.MimeType != "image/jpeg" || b.Size != int64(len(data)) {
			t.Errorf("blob %s: mime %q size %d, want image/jpeg %d", b.CID, b.MimeType, b.Size, len(data))
		}
		if i > 0 && sum.Blobs[i-1].CID >= b.CID {
			t.Error("blobs not sorted by CID")
		}
	}
}

// TestRecordIndexMatchesIndigo cross-checks our MST walk against indigo's
// own in-memory loader on the same CAR.
func TestRecordIndexMatchesIndigo(t *testing.T) {
	r, _ := buildRepo(t, 2000, 3)
	car := r.CAR()
	idx, sum, err := RecordIndex(context.Background(), bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	_, ir, err := indigorepo.LoadRepoFromCAR(context.Background(), bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]cid.Cid{}
	if err := ir.MST.WriteToMap(want); err != nil {
		t.Fatal(err)
	}
	if len(idx) != len(want) || sum.Records != len(want) {
		t.Fatalf("index has %d records (summary %d), indigo %d", len(idx), sum.Records, len(want))
	}
	for k, v := range want {
		if idx[k] != v.String() {
			t.Fatalf("record %s: %s, indigo %s", k, idx[k], v)
		}
	}
}

func TestVerifyCARWrongKey(t *testing.T) {
	r, _ := buildRepo(t, 50, 1)
	other := pubKey(t, newKey(t))
	_, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: testDID, Keys: []atcrypto.PublicKey{other}})
	wantVerifyError(t, err, "commit signature does not verify against "+other.DIDKey())
}

// A commit signed by an earlier key of the set passes and names it,
// wherever it stands in the list.
func TestVerifyCARSignedByEarlierKey(t *testing.T) {
	r, signer := buildRepo(t, 40, 2)
	current, older := newKey(t), newKey(t)
	want := pubKey(t, signer).DIDKey()
	for _, keys := range [][]atcrypto.PrivateKey{{current, signer, older}, {current, older, signer}, {signer, current}} {
		sum, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: testDID, Keys: pubKeys(t, keys...)})
		if err != nil {
			t.Fatal(err)
		}
		if sum.SignedBy != want {
			t.Errorf("SignedBy = %s, want the signer %s", sum.SignedBy, want)
		}
		if sum.Records != 40 || len(sum.Blobs) != 2 {
			t.Errorf("summary %+v", sum)
		}
	}
	// No keys: no signature check, no signer.
	sum, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: testDID})
	if err != nil || sum.SignedBy != "" {
		t.Fatalf("no keys: %v, SignedBy %q", err, sum.SignedBy)
	}
}

// A commit signed by none of the keys fails, naming every key tried in
// the order given.
func TestVerifyCARSignedByNoneOfTheKeys(t *testing.T) {
	r, _ := buildRepo(t, 20, 0)
	a, b, c := newKey(t), newKey(t), newKey(t)
	keys := pubKeys(t, a, b, c)
	_, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: testDID, Keys: keys})
	wantVerifyError(t, err, "commit signature does not verify against any of the 3 keys tried ("+
		keys[0].DIDKey()+", "+keys[1].DIDKey()+", "+keys[2].DIDKey()+")")
}

func TestVerifyCARDIDMismatch(t *testing.T) {
	r, key := buildRepo(t, 50, 1)
	_, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: "did:plc:someoneelse", Keys: pubKeys(t, key)})
	wantVerifyError(t, err, "commit DID "+testDID, "did:plc:someoneelse")
}

func TestVerifyCARMissingRecord(t *testing.T) {
	r, key := buildRepo(t, 300, 2)
	var victim repotest.Block
	for _, b := range r.Blocks {
		if b.Kind == repotest.KindRecord {
			victim = b // the last record
		}
	}
	car := writeCAR(t, r, func(b repotest.Block) bool { return !b.CID.Equals(victim.CID) })
	_, err := VerifyCAR(context.Background(), bytes.NewReader(car), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
	wantVerifyError(t, err, "record "+victim.Path+" ("+victim.CID.String()+") missing from CAR")
}

func TestVerifyCARMissingMSTNode(t *testing.T) {
	r, key := buildRepo(t, 500, 0)
	nodes := r.NodeBlocks()
	if len(nodes) < 3 {
		t.Fatalf("only %d MST nodes", len(nodes))
	}
	for name, victim := range map[string]repotest.Block{"inner": nodes[len(nodes)/2], "root": nodes[0]} {
		t.Run(name, func(t *testing.T) {
			car := writeCAR(t, r, func(b repotest.Block) bool { return !b.CID.Equals(victim.CID) })
			_, err := VerifyCAR(context.Background(), bytes.NewReader(car), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
			wantVerifyError(t, err, "MST node "+victim.CID.String()+" missing")
		})
	}
}

func TestVerifyCARMissingCommit(t *testing.T) {
	r, key := buildRepo(t, 20, 0)
	car := writeCAR(t, r, func(b repotest.Block) bool { return b.Kind != repotest.KindCommit })
	_, err := VerifyCAR(context.Background(), bytes.NewReader(car), VerifyOptions{Keys: pubKeys(t, key)})
	wantVerifyError(t, err, "commit block "+r.CommitCID.String()+" missing")
}

func TestVerifyCARFlippedByte(t *testing.T) {
	r, key := buildRepo(t, 100, 1)
	car := r.CAR()
	for _, kind := range []repotest.Kind{repotest.KindCommit, repotest.KindNode, repotest.KindRecord} {
		var blk repotest.Block
		for _, b := range r.Blocks {
			if b.Kind == kind {
				blk = b
				break
			}
		}
		i := bytes.Index(car, blk.Data)
		if i < 0 {
			t.Fatal("block data not found in CAR")
		}
		bad := bytes.Clone(car)
		bad[i+len(blk.Data)-1] ^= 0x01
		_, err := VerifyCAR(context.Background(), bytes.NewReader(bad), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
		wantVerifyError(t, err, "block "+blk.CID.String()+": hash mismatch")
	}
}

func TestVerifyCARTruncated(t *testing.T) {
	r, key := buildRepo(t, 100, 1)
	car := r.CAR()
	ends := sectionEnds(t, car)
	for _, n := range []int{len(car) - 1, len(car) - 40, len(car) / 2, 20, 1} {
		// A cut between two blocks is a well-formed CAR
		// (TestVerifyCARCutAtBlockBoundary): cut inside the block instead.
		for ends[n] {
			n--
		}
		_, err := VerifyCAR(context.Background(), bytes.NewReader(car[:n]), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
		wantVerifyError(t, err, "truncated CAR")
	}
	_, err := VerifyCAR(context.Background(), bytes.NewReader(nil), VerifyOptions{})
	wantVerifyError(t, err)
}

// TestVerifyCARCutAtBlockBoundary: a CAR cut exactly between blocks is
// well formed, so only the completeness checks can catch it.
func TestVerifyCARCutAtBlockBoundary(t *testing.T) {
	r, key := buildRepo(t, 100, 0)
	n := 0
	car := writeCAR(t, r, func(repotest.Block) bool { n++; return n <= len(r.Blocks)-10 })
	_, err := VerifyCAR(context.Background(), bytes.NewReader(car), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
	wantVerifyError(t, err, "missing from CAR")
}

func TestVerifyCARPartialDiff(t *testing.T) {
	key := newKey(t)
	r := repotest.New(testDID, key)
	if err := r.AddPosts(400, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	before := map[cid.Cid]bool{}
	for _, b := range r.Blocks {
		before[b.CID] = true
	}
	if err := r.AddPosts(7, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	diff := writeCAR(t, r, func(b repotest.Block) bool { return !before[b.CID] })

	var got []string
	sum, err := VerifyCAR(context.Background(), bytes.NewReader(diff), VerifyOptions{
		DID: testDID, Keys: pubKeys(t, key), Partial: true,
		Records: func(path, _ string) error { got = append(got, path); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 7 || len(got) != 7 {
		t.Errorf("partial records = %d (callbacks %d), want the 7 new ones", sum.Records, len(got))
	}
	if len(sum.Blobs) != 1 {
		t.Errorf("partial blobs = %+v, want the 1 new blob", sum.Blobs)
	}
	if sum.Rev != r.Rev {
		t.Errorf("rev = %s, want %s", sum.Rev, r.Rev)
	}

	// The same diff is not a complete repo ...
	_, err = VerifyCAR(context.Background(), bytes.NewReader(diff), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
	wantVerifyError(t, err, "missing")
	// ... and partial mode still checks the signature and block hashes.
	_, err = VerifyCAR(context.Background(), bytes.NewReader(diff), VerifyOptions{Keys: pubKeys(t, newKey(t)), Partial: true})
	wantVerifyError(t, err, "commit signature does not verify")
	bad := bytes.Clone(diff)
	bad[len(bad)-1] ^= 0x80
	_, err = VerifyCAR(context.Background(), bytes.NewReader(bad), VerifyOptions{Partial: true})
	wantVerifyError(t, err, "hash mismatch")
}

func TestVerifyCARCallbackError(t *testing.T) {
	r, _ := buildRepo(t, 10, 0)
	stop := errors.New("stop")
	_, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{
		Records: func(string, string) error { return stop },
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
}

func TestVerifyCARCancelled(t *testing.T) {
	r, _ := buildRepo(t, 10, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := VerifyCAR(ctx, bytes.NewReader(r.CAR()), VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestVerifyCAREmptyRepo(t *testing.T) {
	r, key := buildRepo(t, 0, 0)
	sum, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 0 || len(sum.Blobs) != 0 {
		t.Fatalf("empty repo summary = %+v", sum)
	}
}

func TestVerifyCARFile(t *testing.T) {
	r, key := buildRepo(t, 60, 2)
	path := filepath.Join(t.TempDir(), "repo.car")
	if err := os.WriteFile(path, r.CAR(), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyCARFile(context.Background(), path, VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 60 || len(sum.Blobs) != 2 {
		t.Errorf("summary = %+v", sum)
	}
	if _, err := VerifyCARFile(context.Background(), filepath.Join(t.TempDir(), "nope.car"), VerifyOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestVerifyCAROddRecords(t *testing.T) {
	key := newKey(t)
	r := repotest.New(testDID, key)
	if err := r.AddPosts(20, 0); err != nil {
		t.Fatal(err)
	}
	// A float is outside the atproto data model: strict decoding fails, but
	// the block has a $type, so it is still a present record.
	if err := r.PutRecord("com.example.odd/1", map[string]any{"$type": "com.example.odd", "f": 1.5, "mimeType": "text/plain"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 21 || sum.UndecodedRecords != 1 {
		t.Errorf("records = %d, undecoded = %d, want 21 and 1", sum.Records, sum.UndecodedRecords)
	}

	// A leaf pointing at a block without $type is not a record.
	if err := r.PutRecord("com.example.untyped/1", map[string]any{"text": "no type"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	_, err = VerifyCAR(context.Background(), bytes.NewReader(r.CAR()), VerifyOptions{DID: testDID, Keys: pubKeys(t, key)})
	wantVerifyError(t, err, "record com.example.untyped/1 ("+r.Records["com.example.untyped/1"].String()+") is not a record")
}

// sectionEnds are the offsets at which a CARv1's header and each section
// end: where a cut leaves a well-formed CAR.
func sectionEnds(t *testing.T, car []byte) map[int]bool {
	t.Helper()
	ends := map[int]bool{}
	for off := 0; off < len(car); {
		n, w := binary.Uvarint(car[off:])
		if w <= 0 {
			t.Fatalf("bad section length at %d", off)
		}
		off += w + int(n)
		ends[off] = true
	}
	return ends
}
