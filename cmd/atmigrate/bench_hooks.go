//go:build e2e

// The bench's request counter exists only in builds made with -tags e2e
// (e2e/bench builds one): a release binary neither reads
// ATMIGRATE_BENCH_REQUESTS_FILE nor replaces http.DefaultTransport.

package main

import (
	"net/http"
	"os"
	"strconv"
	"sync"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// The benchmark (e2e/bench) counts the HTTP requests a run sends: with
// ATMIGRATE_BENCH_REQUESTS_FILE set, every request (to a PDS through
// internal/pds, or to the PLC directory through http.DefaultTransport)
// rewrites the count in that file in place, so the file holds the final
// number when the process exits, however it exits. Unset, nothing changes.
func init() {
	path := os.Getenv("ATMIGRATE_BENCH_REQUESTS_FILE")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	c := &requestCounter{f: f}
	c.bump(0)
	pds.SetRequestHook(func() { c.bump(1) })
	http.DefaultTransport = countingTransport{next: http.DefaultTransport, c: c}
}

type requestCounter struct {
	mu sync.Mutex
	n  int64
	f  *os.File
}

// bump adds d and writes the count as a fixed-width decimal at offset 0
// (one pwrite: cheap enough to do per request).
func (c *requestCounter) bump(d int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	b := []byte(strconv.FormatInt(c.n, 10))
	for len(b) < 12 {
		b = append([]byte{' '}, b...)
	}
	_, _ = c.f.WriteAt(append(b, '\n'), 0)
}

type countingTransport struct {
	next http.RoundTripper
	c    *requestCounter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.bump(1)
	return t.next.RoundTrip(r)
}
