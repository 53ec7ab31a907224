package verify

import (
	"context"
	"sync"

	"github.com/atmigrate/atmigrate/repo"
)

// newReads are the new PDS's answers that several checks of one Run need
// (the records compare its latest commit, the signature check reads that
// commit's block, the network check its rev): asked once per Run, even by
// checks running at once, and shared.
type newReads struct {
	mu      sync.Mutex
	latest  *once[headCommit]
	commits map[string]*once[*repo.Commit]
}

type headCommit struct{ cid, rev string }

// once is one answer, asked by the first caller; the others wait for it.
type once[T any] struct {
	done chan struct{}
	v    T
	err  error
}

// claim returns the once in *slot, making it (first: the caller asks) if
// there is none. The caller holds the lock that guards *slot.
func claim[T any](slot **once[T]) (c *once[T], first bool) {
	if *slot == nil {
		*slot = &once[T]{done: make(chan struct{})}
		return *slot, true
	}
	return *slot, false
}

// answer asks (first) or waits for the first caller's answer.
func (c *once[T]) answer(ctx context.Context, first bool, ask func(context.Context) (T, error)) (T, error) {
	if first {
		c.v, c.err = ask(ctx)
		close(c.done)
		return c.v, c.err
	}
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// newLatest is the new PDS's latest commit of the account.
func (o Options) newLatest(ctx context.Context) (cid, rev string, err error) {
	if o.reads == nil {
		return o.New.GetLatestCommit(ctx, o.DID)
	}
	o.reads.mu.Lock()
	c, first := claim(&o.reads.latest)
	o.reads.mu.Unlock()
	h, err := c.answer(ctx, first, func(ctx context.Context) (headCommit, error) {
		cid, rev, err := o.New.GetLatestCommit(ctx, o.DID)
		return headCommit{cid, rev}, err
	})
	return h.cid, h.rev, err
}

// newCommit is the account's commit cid on the new PDS, decoded.
func (o Options) newCommit(ctx context.Context, cid string) (*repo.Commit, error) {
	if o.reads == nil {
		return FetchCommit(ctx, o.New, o.DID, cid)
	}
	o.reads.mu.Lock()
	if o.reads.commits == nil {
		o.reads.commits = map[string]*once[*repo.Commit]{}
	}
	slot := o.reads.commits[cid]
	c, first := claim(&slot)
	o.reads.commits[cid] = c
	o.reads.mu.Unlock()
	return c.answer(ctx, first, func(ctx context.Context) (*repo.Commit, error) {
		return FetchCommit(ctx, o.New, o.DID, cid)
	})
}
