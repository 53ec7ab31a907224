package repo

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/atmigrate/atmigrate/repo/repotest"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"
)

func TestBlockIndex(t *testing.T) {
	x := newBlockIndex[uint32]()
	want := map[digest]uint32{}
	rng := rand.New(rand.NewPCG(1, 2))
	var d digest
	for i := range 20000 {
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		if i%3 == 0 {
			d[0], d[1] = 0xab, 0xc0 // crowd one bucket
		}
		x.add(d, uint32(i))
		want[d] = uint32(i)
		if i%100 == 0 {
			x.add(d, uint32(i)) // a duplicate block
		}
	}
	x.finish()
	n := 0
	x.each(func(uint32) { n++ })
	if n != len(want) {
		t.Fatalf("%d entries after finish, want %d (duplicates dropped)", n, len(want))
	}
	for d, v := range want {
		if got, ok := x.get(d); !ok || got != v {
			t.Fatalf("get(%x) = %d, %v; want %d", d, got, ok, v)
		}
		d[31] ^= 1
		if _, ok := want[d]; !ok {
			if _, ok := x.get(d); ok {
				t.Fatalf("get(%x) found a digest never added", d)
			}
		}
	}
}

// verifyBoth verifies car twice, keeping the MST nodes in memory and
// reading them back from a file (CARFile), and fails unless both give the
// same summary or the same error.
func verifyBoth(t *testing.T, car []byte, opts VerifyOptions) (*Summary, error) {
	t.Helper()
	var memPaths, filePaths []string
	fn := opts.Records
	collect := func(out *[]string) func(string, string) error {
		return func(p, c string) error {
			*out = append(*out, p+" "+c)
			if fn != nil {
				return fn(p, c)
			}
			return nil
		}
	}
	opts.Records = collect(&memPaths)
	memSum, memErr := VerifyCAR(context.Background(), bytes.NewReader(car), opts)

	path := filepath.Join(t.TempDir(), "repo.car")
	if err := os.WriteFile(path, car, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Records, opts.CARFile = collect(&filePaths), path
	fileSum, fileErr := VerifyCAR(context.Background(), bytes.NewReader(car), opts)

	if (memErr == nil) != (fileErr == nil) || (memErr != nil && memErr.Error() != fileErr.Error()) {
		t.Fatalf("in memory: %v; read back: %v", memErr, fileErr)
	}
	if !reflect.DeepEqual(memSum, fileSum) || !reflect.DeepEqual(memPaths, filePaths) {
		t.Fatalf("in memory: %+v, %d records called back; read back: %+v, %d", memSum, len(memPaths), fileSum, len(filePaths))
	}
	return fileSum, fileErr
}

func TestVerifyCARReadBackSameAnswers(t *testing.T) {
	r, key := buildRepo(t, 400, 6)
	opts := VerifyOptions{DID: testDID, Keys: pubKeys(t, key)}
	blocks := r.Blocks
	var record, node repotest.Block
	for _, b := range blocks {
		if b.Kind == repotest.KindRecord {
			record = b
		}
	}
	node = r.NodeBlocks()[len(r.NodeBlocks())/2]
	without := func(victim repotest.Block) []repotest.Block {
		var out []repotest.Block
		for _, b := range blocks {
			if !b.CID.Equals(victim.CID) {
				out = append(out, b)
			}
		}
		return out
	}
	shuffled := append([]repotest.Block(nil), blocks...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// Duplicates of a node and a record, and an extra record no MST leaf
	// points at.
	extra := append(append([]repotest.Block(nil), shuffled...), node, record, otherRecord(t))

	carOf := func(bs []repotest.Block) []byte {
		var buf bytes.Buffer
		if err := repotest.WriteCAR(&buf, r.CommitCID, bs); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	whole, _ := verifyBoth(t, r.CAR(), opts)
	if whole.Records != 400 || len(whole.Blobs) != 6 {
		t.Fatalf("summary %+v", whole)
	}
	for name, car := range map[string][]byte{"shuffled": carOf(shuffled), "duplicates and an extra block": carOf(extra)} {
		sum, err := verifyBoth(t, car, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum.Blocks, sum.Bytes = whole.Blocks, whole.Bytes
		if !reflect.DeepEqual(sum, whole) {
			t.Errorf("%s: %+v, want %+v", name, sum, whole)
		}
	}

	flipped := r.CAR()
	i := bytes.Index(flipped, node.Data)
	flipped[i+len(node.Data)-1] ^= 1
	for name, c := range map[string]struct {
		car  []byte
		opts VerifyOptions
		want string
	}{
		"missing record": {carOf(without(record)), opts, "record " + record.Path + " (" + record.CID.String() + ") missing from CAR"},
		"missing node":   {carOf(without(node)), opts, "MST node " + node.CID.String() + " missing"},
		"wrong CID":      {flipped, opts, "block " + node.CID.String() + ": hash mismatch"},
		"bad signature":  {r.CAR(), VerifyOptions{DID: testDID, Keys: pubKeys(t, newKey(t))}, "commit signature does not verify"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := verifyBoth(t, c.car, c.opts)
			wantVerifyError(t, err, c.want)
		})
	}
}

// otherRecord is a record block of another repo.
func otherRecord(t *testing.T) repotest.Block {
	o, _ := buildRepo(t, 3, 0)
	for _, b := range o.Blocks {
		if b.Kind == repotest.KindRecord {
			return b
		}
	}
	t.Fatal("no record")
	return repotest.Block{}
}

// TestVerifyCARBrokenMSTOrder: a signed commit over a one-node MST whose
// two keys are out of order fails, in memory and read back.
func TestVerifyCARBrokenMSTOrder(t *testing.T) {
	src, _ := buildRepo(t, 60, 0)
	var recs []repotest.Block
	for _, b := range src.Blocks {
		if b.Kind == repotest.KindRecord && mst.HeightForKey([]byte(b.Path)) == 0 && len(recs) < 2 {
			recs = append(recs, b)
		}
	}
	if len(recs) < 2 {
		t.Fatal("fewer than 2 height-0 records")
	}
	// Key order is recs[0] < recs[1]: write them the other way round.
	nd := mst.NodeData{Entries: []mst.EntryData{
		{KeySuffix: []byte(recs[1].Path), Value: recs[1].CID},
		{KeySuffix: []byte(recs[0].Path), Value: recs[0].CID},
	}}
	nb, nc, err := nd.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	commit := indigorepo.Commit{DID: testDID, Version: indigorepo.ATPROTO_REPO_VERSION, Data: *nc, Rev: src.Rev}
	if err := commit.Sign(key); err != nil {
		t.Fatal(err)
	}
	var cb bytes.Buffer
	if err := commit.MarshalCBOR(&cb); err != nil {
		t.Fatal(err)
	}
	cc, err := cid.NewPrefixV1(cid.DagCBOR, 0x12).Sum(cb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if err := repotest.WriteCAR(&car, cc, []repotest.Block{
		recs[0], {CID: *nc, Data: nb, Kind: repotest.KindNode}, {CID: cc, Data: cb.Bytes(), Kind: repotest.KindCommit}, recs[1],
	}); err != nil {
		t.Fatal(err)
	}
	_, err = verifyBoth(t, car.Bytes(), VerifyOptions{DID: testDID, Keys: []atcrypto.PublicKey{pubKey(t, key)}})
	wantVerifyError(t, err, "MST key "+recs[0].Path+" out of order after "+recs[1].Path)
}

// TestVerifyCARReadBackFileChanged: the walk hashes every node it reads
// back, so a file that does not hold what streamed fails.
func TestVerifyCARReadBackFileChanged(t *testing.T) {
	r, key := buildRepo(t, 200, 0)
	car := r.CAR()
	node := r.NodeBlocks()[0]
	bad := bytes.Clone(car)
	i := bytes.Index(bad, node.Data)
	bad[i+len(node.Data)-1] ^= 1
	path := filepath.Join(t.TempDir(), "repo.car")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := VerifyCAR(context.Background(), bytes.NewReader(car), VerifyOptions{DID: testDID, Keys: pubKeys(t, key), CARFile: path})
	wantVerifyError(t, err, "MST node "+node.CID.String()+": the CAR file's bytes at "+strconv.Itoa(i)+" do not hash to it")
}
