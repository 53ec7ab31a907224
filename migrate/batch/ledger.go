package batch

import (
	"fmt"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// ledger is a running batch's index: the accounts in flight change their
// entries through it, under one lock, and batch.json is saved after every
// change so that a killed batch loses nothing it had recorded.
type ledger struct {
	dir  string
	mu   sync.Mutex
	idx  *Index
	mine []*Entry // this run's accounts, in file order

	// progress is where a failed save is reported; onUpdate sees every
	// change (Options.AccountProgress and Options.OnUpdate, may be nil).
	progress func(account string) ui.Progress
	onUpdate func(e Entry, s Summary)
}

// openLedger loads dir's index (or starts one for newPDS), adds this run's
// accounts to it and saves it. An account left running was in a batch that
// was killed: it is pending again.
func openLedger(dir, newPDS string, accounts []Account) (*ledger, error) {
	idx, err := LoadIndex(dir)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		idx = &Index{NewPDS: newPDS}
	}
	if idx.NewPDS != "" && idx.NewPDS != newPDS {
		return nil, &failure.InputError{Msg: fmt.Sprintf("the state dir %s holds a batch to %s, not %s", dir, idx.NewPDS, newPDS), Hint: "use another {state-dir}"}
	}
	idx.NewPDS = newPDS

	l := &ledger{dir: dir, idx: idx}
	for _, a := range accounts {
		e := idx.find(a.Account)
		if e == nil {
			e = &Entry{Account: a.Account, Status: Pending, Updated: time.Now().UTC()}
			idx.Accounts = append(idx.Accounts, e)
		}
		if e.Status == Running { // a run that was killed
			e.Status, e.Error = Pending, "interrupted"
		}
		refreshEntry(dir, e)
		l.mine = append(l.mine, e)
	}
	if err := idx.save(dir); err != nil {
		return nil, err
	}
	return l, nil
}

// update changes an entry under the lock, saves the index and reports.
func (l *ledger) update(e *Entry, fn func()) {
	l.mu.Lock()
	fn()
	e.Updated = time.Now().UTC()
	if err := l.idx.save(l.dir); err != nil && l.progress != nil {
		l.progress(e.Account).Warn("could not save the batch index: " + err.Error())
	}
	snap, sum := *e, summarize(l.mine)
	l.mu.Unlock()
	if l.onUpdate != nil {
		l.onUpdate(snap, sum)
	}
}

// claimDID records the account's DID, refusing a DID another row of the
// index already has.
func (l *ledger) claimDID(e *Entry, did string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.idx.Accounts {
		if x != e && x.DID == did {
			return &failure.InputError{Msg: fmt.Sprintf("%s is %s, the same account as %s", e.Account, did, x.Account), Hint: "list each account once"}
		}
	}
	e.DID = did
	return l.idx.save(l.dir)
}

// close saves the index a last time and writes the reports from it.
func (l *ledger) close() (*Index, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.idx.save(l.dir); err != nil {
		return l.idx, err
	}
	if err := WriteReport(l.dir, l.idx); err != nil {
		return l.idx, err
	}
	return l.idx, nil
}

// setRelayHosts records how the relays saw the new PDS's host before
// this run, and saves it.
func (l *ledger) setRelayHosts(views []network.HostView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.idx.RelayHosts = views
	_ = l.idx.save(l.dir) // saved again after every account; close reports a failure
}
