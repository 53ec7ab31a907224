// Package stalltest serves the four ways a server stalls, for the tests
// of every client that goes through internal/stall.
package stalltest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Kinds are the misbehaviours Server knows.
var Kinds = []string{
	"nothing", // accepts the connection, never answers
	"headers", // answers 200 and its headers, then nothing
	"midbody", // sends part of the body, then nothing
	"trickle", // sends the body 50 bytes a second
}

// Server answers every request the way kind says, until the test ends.
// Requests counts the requests it saw.
func Server(t testing.TB, kind string) (*httptest.Server, *Counter) {
	t.Helper()
	done := make(chan struct{})
	n := &Counter{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.add()
		hold := func() {
			select {
			case <-done:
			case <-r.Context().Done():
			}
		}
		switch kind {
		case "nothing":
			hold()
		case "headers":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			hold()
		case "midbody":
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write(append([]byte(`["`), bytes.Repeat([]byte("x"), 5000)...))
			w.(http.Flusher).Flush()
			hold()
		case "trickle":
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write([]byte(`["`))
			for range 100000 {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-done:
					return
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		default:
			t.Errorf("stalltest: unknown kind %q", kind)
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv, n
}
