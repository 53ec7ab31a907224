package fakenet

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
)

// applyWrites answers com.atproto.repo.applyWrites. An empty list makes a
// commit over the same data, as the reference PDS does (unless
// RefuseEmptyWrites). Records live in a small store of their own (the
// fake has no MST): a create moves the commit's data to a made-up root and
// a delete of the last record created brings the earlier root back, which
// is what a real MST does for a record created and deleted. Each commit
// gets a new rev and the account's signature.
func (p *PDS) applyWrites(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Writes []struct {
			Type       string `json:"$type"`
			Collection string `json:"collection"`
			RKey       string `json:"rkey"`
		} `json:"writes"`
		SwapCommit string `json:"swapCommit"`
	}
	c, err := p.authedInput(r, accessStandard, &in)
	if err != nil {
		return err
	}
	switch {
	case len(in.Writes) == 0 && p.opts.RefuseEmptyWrites:
		return invalidRequest("fakenet: at least one write is needed")
	case len(in.Writes) > 1:
		return invalidRequest("fakenet: one write at a time")
	case len(in.Writes) == 1 && p.opts.RefuseRecordWrites:
		return invalidRequest("fakenet: record writes refused")
	}
	var out map[string]any
	if err := p.withAccount(c, func(a *account) error {
		if in.SwapCommit != "" && in.SwapCommit != a.CommitCID {
			return namedInvalid("InvalidSwap", "Commit was at "+a.CommitCID)
		}
		head, err := a.head()
		if err != nil {
			return invalidRequest("fakenet: no repo to write to")
		}
		if len(in.Writes) == 1 {
			wr := in.Writes[0]
			path := wr.Collection + "/" + wr.RKey
			switch {
			case strings.HasSuffix(wr.Type, "#create"):
				if a.Records[path] != "" {
					return invalidRequest("Record already exists")
				}
				if a.Records == nil {
					a.Records = map[string]string{}
				}
				a.Records[path] = head.Data.String()
				head.Data, _ = cid.Decode(fakeCommitCID(head.Data.String() + path))
			case strings.HasSuffix(wr.Type, "#delete"):
				if p.opts.FailDeletes > 0 {
					p.opts.FailDeletes--
					return internalError()
				}
				before := a.Records[path]
				if before == "" {
					return invalidRequest("Could not find record")
				}
				delete(a.Records, path)
				head.Data, _ = cid.Decode(before)
			default:
				return invalidRequest("fakenet: unsupported write " + wr.Type)
			}
		}
		a.Rev = p.tids.Next().String()
		if err := p.resignLocked(a, head); err != nil {
			return err
		}
		a.Writes++
		out = map[string]any{"commit": map[string]string{"cid": a.CommitCID, "rev": a.Rev}, "results": []any{}}
		return nil
	}); err != nil {
		return err
	}
	return writeOKJSON(w, out)
}

// SignOwnCommit gives did's repo a new commit over the same data, signed
// by the account's key: what an empty applyWrites does.
func (p *PDS) SignOwnCommit(did string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[did]
	if a == nil {
		p.t.Fatalf("fakenet: no account %s", did)
	}
	head, err := a.head()
	if err != nil {
		p.t.Fatalf("fakenet: %s has no commit to sign again: %v", did, err)
	}
	a.Rev = p.tids.Next().String()
	if err := p.resignLocked(a, head); err != nil {
		p.t.Fatalf("fakenet: sign a commit: %v", err)
	}
}

// head decodes the account's latest commit, from its extra blocks or its
// imported CAR.
func (a *account) head() (*repo.Commit, error) {
	data, ok := a.Blocks[a.CommitCID]
	if !ok {
		want, err := cid.Decode(a.CommitCID)
		if err != nil {
			return nil, err
		}
		br, err := carv2.NewBlockReader(bytes.NewReader(a.RepoCAR))
		if err != nil {
			return nil, err
		}
		for {
			b, err := br.Next()
			if err != nil {
				return nil, err
			}
			if b.Cid().Equals(want) {
				data = b.RawData()
				break
			}
		}
	}
	var c repo.Commit
	if err := c.UnmarshalCBOR(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	return &c, nil
}

// getRecord answers com.atproto.repo.getRecord for the records
// applyWrites made (the imported repo's are not served).
func (p *PDS) getRecord(w http.ResponseWriter, r *http.Request) error {
	c, err := p.authOptional(r)
	if err != nil {
		return err
	}
	did, err := requiredParam(r, "repo")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	path := q.Get("collection") + "/" + q.Get("rkey")
	found := false
	if err := p.withRepo(did, c, func(a *account) error { found = a.Records[path] != ""; return nil }); err != nil {
		return err
	}
	if !found {
		return namedInvalid("RecordNotFound", "Could not locate record: at://"+did+"/"+path)
	}
	return writeOKJSON(w, map[string]any{"uri": "at://" + did + "/" + path, "cid": fakeCommitCID(path), "value": map[string]any{}})
}
