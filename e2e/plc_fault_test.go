package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/plc"
)

// laggingReplica rewrites the directory's answers like a read replica
// that has not caught up: the first time a path's answer changes (the
// operation went in), it keeps serving the previous answer for `reads`
// more requests of that path.
type laggingReplica struct {
	reads int

	mu    sync.Mutex
	last  map[string][]byte
	left  map[string]int
	stale int
}

// prime records what the directory serves now for each path, straight
// from upstream, so that the first read after the write can be stale too.
func (l *laggingReplica) prime(t *testing.T, upstream string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		resp, err := http.Get(upstream + p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", p, resp.StatusCode, err)
		}
		l.last[p] = body
	}
}

func (l *laggingReplica) rewrite(path string) func([]byte) []byte {
	return func(body []byte) []byte {
		l.mu.Lock()
		defer l.mu.Unlock()
		prev, seen := l.last[path]
		switch {
		case !seen || bytes.Equal(prev, body):
		case l.left[path] < l.reads:
			l.left[path]++
			l.stale++
			return prev
		}
		l.last[path] = body
		return body
	}
}

// TestPLCFaults migrates with a user rotation key while atmigrate reaches
// the PLC directory through a fault proxy (the PDSes use the directory
// directly): reads answer 500 and 429 with RateLimit-Reset, and once the
// operation is in, the proxy serves the previous audit log and document for
// a few reads, as a lagging replica. The run must retry, wait for the
// directory, finish with exit 0 and leave exactly one new operation.
func TestPLCFaults(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("plcfault"), Posts: 30, Blobs: 3, BlobMinBytes: 2000, BlobMaxBytes: 8000, RecoveryKey: userDK})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	logBefore, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}

	lag := &laggingReplica{reads: 2, last: map[string][]byte{}, left: map[string]int{}}
	auditPath, docPath := "/"+acct.DID+"/log/audit", "/"+acct.DID+"/data"
	lag.prime(t, net.PLCURL, auditPath, docPath, "/"+acct.DID)
	px := newFaultProxy(t, net.PLCURL)
	var mu sync.Mutex
	gets := 0
	px.rule(func(r *http.Request) fault {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/"+acct.DID) {
			return fault{}
		}
		mu.Lock()
		gets++
		n := gets
		mu.Unlock()
		switch n {
		case 1, 4, 9:
			return fault{status: http.StatusInternalServerError, body: `{"message":"Internal Server Error"}`}
		case 2:
			f := rateLimited(2 * time.Second)
			f.body = `{"message":"Too Many Requests"}`
			return f
		}
		return fault{rewrite: lag.rewrite(r.URL.Path)}
	})

	env := migrateEnv(net, acct)
	env["ATMIGRATE_PLC_URL"] = px.URL
	r := atmigrate(t, env, "migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath)
	if r.code != 0 {
		t.Fatalf("want exit 0 through the PLC faults\n%s", r)
	}
	mustContain(t, r, "rate limited by "+px.URL, "at "+px.URL+" failed (attempt 1)")
	log := assertOneMigration(t, net, acct, before)
	if len(log) != len(logBefore)+1 {
		t.Errorf("audit log grew from %d to %d entries, want exactly one new operation", len(logBefore), len(log))
	}
	faults := px.counts()
	if faults["500"] < 3 || faults["429"] != 1 || lag.left[auditPath] != lag.reads || lag.left[docPath] != lag.reads {
		t.Errorf("faults injected: %v, stale reads %v; want 3 500s, one 429 and %d stale reads of the audit log and of the document",
			faults, lag.left, lag.reads)
	}
	report(t, fmt.Sprintf("PLC fault test: %d 500s, %d 429, %d stale reads after the write; one operation, exit 0, in %s",
		faults["500"], faults["429"], lag.stale, time.Since(start).Round(100*time.Millisecond)))
}
