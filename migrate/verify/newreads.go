package verify

import (
	"context"
	"sync"

	"github.com/atmigrate/atmigrate/repo"
)

// newReads are the new PDS's answers that several checks of one Run need
// (the records compare its latest commit, the signature check reads that
// commit's block, the network check its rev): asked once per Run, even by
// checks running at once, and shared. They are asked under the Run's
// context, which every check shares.
type newReads struct {
	latest func() (headCommit, error)

	mu      sync.Mutex
	commits map[string]func() (*repo.Commit, error)
	commit  func(cid string) (*repo.Commit, error) // the request itself
}

type headCommit struct{ cid, rev string }

func newReadsOf(ctx context.Context, o Options) *newReads {
	return &newReads{
		latest: sync.OnceValues(func() (headCommit, error) {
			cid, rev, err := o.New.GetLatestCommit(ctx, o.DID)
			return headCommit{cid, rev}, err
		}),
		commits: map[string]func() (*repo.Commit, error){},
		commit:  func(cid string) (*repo.Commit, error) { return FetchCommit(ctx, o.New, o.DID, cid) },
	}
}

// newLatest is the new PDS's latest commit of the account.
func (o Options) newLatest(ctx context.Context) (cid, rev string, err error) {
	if o.reads == nil {
		return o.New.GetLatestCommit(ctx, o.DID)
	}
	h, err := o.reads.latest()
	return h.cid, h.rev, err
}

// newCommit is the account's commit cid on the new PDS, decoded.
func (o Options) newCommit(ctx context.Context, cid string) (*repo.Commit, error) {
	if o.reads == nil {
		return FetchCommit(ctx, o.New, o.DID, cid)
	}
	o.reads.mu.Lock()
	get, ok := o.reads.commits[cid]
	if !ok {
		get = sync.OnceValues(func() (*repo.Commit, error) { return o.reads.commit(cid) })
		o.reads.commits[cid] = get
	}
	o.reads.mu.Unlock()
	return get()
}
