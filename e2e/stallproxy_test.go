package e2e

import (
	"io"
	"net/http"
	"time"
)

// stallKinds are the ways a server stalls, as a user met them: it accepts
// the connection and never answers, answers its headers and then nothing,
// stops mid-body, or trickles a byte at a time.
var stallKinds = []string{"nothing", "headers", "midbody", "trickle"}

// serveStall sends what the upstream answered (its headers are written)
// the way kind says, then holds the connection open until the client
// gives up. "nothing" never gets here: the proxy answers no headers.
func serveStall(w http.ResponseWriter, r *http.Request, resp *http.Response, kind string) {
	fl := w.(http.Flusher)
	switch kind {
	case "midbody":
		// Half the body, at most 1,500 bytes: the client has read
		// something, and the rest never comes.
		n := int64(1500)
		if resp.ContentLength > 0 && resp.ContentLength/2 < n {
			n = resp.ContentLength / 2
		}
		io.CopyN(w, resp.Body, n)
	case "trickle":
		// Two bytes a second: the answer is alive, and never ends in time.
		b := make([]byte, 1)
		for {
			if _, err := io.ReadFull(resp.Body, b); err != nil {
				return
			}
			if _, err := w.Write(b); err != nil {
				return
			}
			fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	fl.Flush()
	<-r.Context().Done()
}
