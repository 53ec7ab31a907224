package fakenet

import (
	"bytes"
	"io"
	"net/http"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/multiformats/go-multihash"
)

// getBlocks answers com.atproto.sync.getBlocks with a root-less CAR (as
// the reference PDS does) of the asked blocks found in the account's
// RepoCAR or its extra Blocks; an unknown CID is an error, like the
// reference PDS's.
func (p *PDS) getBlocks(w http.ResponseWriter, r *http.Request) error {
	c, did, err := p.repoRequest(r)
	if err != nil {
		return err
	}
	want := r.URL.Query()["cids"]
	var out bytes.Buffer
	if err := p.withRepo(did, c, func(a *account) error {
		have := map[string][]byte{}
		for k, v := range a.Blocks {
			have[k] = v
		}
		if len(a.RepoCAR) > 0 {
			if br, err := carv2.NewBlockReader(bytes.NewReader(a.RepoCAR)); err == nil {
				for {
					b, err := br.Next()
					if err != nil {
						break
					}
					have[b.Cid().String()] = b.RawData()
				}
			}
		}
		writeCARHeader(&out)
		for _, k := range want {
			data, ok := have[k]
			if !ok {
				return invalidRequest("Could not find cids: " + k)
			}
			cc, err := cid.Decode(k)
			if err != nil {
				return invalidRequest("bad cid: " + k)
			}
			writeSection(&out, cc.Bytes(), data)
		}
		return nil
	}); err != nil {
		return err
	}
	writeBytes(w, "application/vnd.ipld.car", out.Bytes())
	return nil
}

// resignLocked makes the account's head a new commit over imported's data,
// signed with the account's own key (ResignImports).
func (p *PDS) resignLocked(a *account, imported *repo.Commit) error {
	c := repo.Commit{DID: imported.DID, Version: imported.Version, Data: imported.Data, Rev: a.Rev}
	if err := c.Sign(a.signing); err != nil {
		return internalError()
	}
	var buf bytes.Buffer
	if err := c.MarshalCBOR(&buf); err != nil {
		return internalError()
	}
	cc, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}.Sum(buf.Bytes())
	if err != nil {
		return internalError()
	}
	if a.Blocks == nil {
		a.Blocks = map[string][]byte{}
	}
	a.Blocks[cc.String()] = buf.Bytes()
	a.CommitCID = cc.String()
	return nil
}

// writeCARHeader writes a CARv1 header with no roots: {"roots": [],
// "version": 1} in DAG-CBOR.
func writeCARHeader(w io.Writer) {
	h := []byte{0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x80, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01}
	writeSection(w, nil, h)
}

// writeSection writes one length-prefixed CAR section.
func writeSection(w io.Writer, cidBytes, data []byte) {
	n := uint64(len(cidBytes) + len(data))
	var prefix []byte
	for n >= 0x80 {
		prefix = append(prefix, byte(n)|0x80)
		n >>= 7
	}
	prefix = append(prefix, byte(n))
	w.Write(prefix)
	w.Write(cidBytes)
	w.Write(data)
}

// blobRefsOf maps each blob referenced by a record in car to a URI naming
// that record (ExpectImportedBlobs): at://<did>/<$type>/<record CID>.
// Blocks that are not records (commits, MST nodes) reference none.
func blobRefsOf(did string, car []byte) map[string]string {
	out := map[string]string{}
	br, err := carv2.NewBlockReader(bytes.NewReader(car))
	if err != nil {
		return out
	}
	for {
		b, err := br.Next()
		if err != nil {
			return out
		}
		rec, err := atdata.UnmarshalCBOR(b.RawData())
		if err != nil {
			continue
		}
		typ, _ := rec["$type"].(string)
		for _, blob := range atdata.ExtractBlobs(rec) {
			out[blob.Ref.String()] = "at://" + did + "/" + typ + "/" + b.Cid().String()
		}
	}
}
