package retry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

var fast = Policy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxRateLimitWait: time.Second}

func TestDecide(t *testing.T) {
	reset := syscall.ECONNRESET
	dial := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name          string
		f             Failure
		unsafe        bool
		ok, rateLimit bool
		wait          time.Duration // 0: any backoff
	}{
		{"500", Failure{Status: 500}, false, true, false, 0},
		{"500 unsafe", Failure{Status: 500}, true, false, false, 0},
		{"400", Failure{Status: 400}, false, false, false, 0},
		{"404", Failure{Status: 404}, false, false, false, 0},
		{"429 reset", Failure{Status: 429, Reset: 500 * time.Millisecond}, true, true, true, 500 * time.Millisecond},
		{"429 no reset", Failure{Status: 429}, false, true, true, 0},
		{"429 beyond max wait", Failure{Status: 429, Reset: time.Hour}, false, false, true, 0},
		{"503 reset unsafe", Failure{Status: 503, Reset: 300 * time.Millisecond}, true, true, false, 300 * time.Millisecond},
		{"503 reset beyond max", Failure{Status: 503, Reset: time.Hour}, false, false, false, 0},
		{"reset mid-body", Failure{Transient: true, Err: reset}, false, true, false, 0},
		{"reset mid-body unsafe", Failure{Transient: true, Err: reset}, true, false, false, 0},
		{"dial error unsafe", Failure{Transient: true, Err: dial}, true, true, false, 0},
		{"not transient", Failure{Err: errors.New("bad JSON")}, false, false, false, 0},
	} {
		wait, rl, ok := fast.Decide(Call{Unsafe: c.unsafe}, c.f, 1)
		if ok != c.ok || rl != c.rateLimit || (c.wait != 0 && wait != c.wait) || (ok && wait <= 0) {
			t.Errorf("%s: wait %s rateLimited %v ok %v; want ok %v rateLimited %v wait %s", c.name, wait, rl, ok, c.ok, c.rateLimit, c.wait)
		}
	}
}

func TestDoRetriesThenGivesUp(t *testing.T) {
	var events []Event
	n := 0
	err := fast.Do(context.Background(), Call{Host: "h", Method: "m"}, func(context.Context) error {
		n++
		return fmt.Errorf("attempt %d: %w", n, syscall.ECONNRESET)
	}, func(err error) Failure { return Failure{Transient: true} }, func(e Event) { events = append(events, e) })
	if n != fast.MaxAttempts || len(events) != fast.MaxAttempts-1 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("attempts %d, events %d, err %v", n, len(events), err)
	}
	if e := events[0]; e.Host != "h" || e.Method != "m" || e.Attempt != 1 || e.Err == nil {
		t.Errorf("event %+v", e)
	}
}

func TestDoCancelFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := fast.Do(ctx, Call{Method: "m"}, func(context.Context) error { called = true; return nil }, nil, nil)
	if called || !errors.Is(err, context.Canceled) {
		t.Errorf("called %v, err %v", called, err)
	}
	// Cancelled during the attempt: the cancellation wins over its error.
	ctx, cancel = context.WithCancel(context.Background())
	err = fast.Do(ctx, Call{Method: "m"}, func(context.Context) error { cancel(); return errors.New("boom") },
		func(error) Failure { return Failure{Transient: true} }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestDoPermanent(t *testing.T) {
	n := 0
	inner := fmt.Errorf("read the audit log: %w", syscall.ECONNRESET)
	err := fast.Do(context.Background(), Call{Method: "m"}, func(context.Context) error { n++; return Permanent(inner) },
		func(error) Failure { return Failure{Transient: true} }, nil)
	if n != 1 || err != inner || IsPermanent(err) {
		t.Errorf("attempts %d, err %#v", n, err)
	}
}
