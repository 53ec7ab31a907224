package stall

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrStalled is wrapped by every *Error: an exchange that made too little
// progress for too long. It is worth a bounded number of retries.
var ErrStalled = errors.New("stalled")

// Phase says where in the exchange the server stopped.
type Phase int

const (
	// NoAnswer: the request was sent, no headers came back.
	NoAnswer Phase = iota
	// Upload: the server stopped taking the request body.
	Upload
	// Download: the answer's body stopped, or trickled.
	Download
)

// Error is a stalled exchange: which server, which call, where, and the
// limit it broke.
type Error struct {
	// Server is the server's base URL (scheme and host).
	Server string
	// Call is the XRPC NSID, or the method and path of another request
	// ("GET /did:plc:abc/log/audit").
	Call  string
	Phase Phase
	// Limit is the wait (NoAnswer) or the window (Upload, Download).
	Limit time.Duration
	// Floor is the fewest bytes a window had to move.
	Floor int64
}

func (e *Error) Error() string {
	what := fmt.Sprintf("sent no answer for %s", e.Limit)
	switch e.Phase {
	case Upload:
		what = fmt.Sprintf("stopped taking the upload (under %s in %s)", bytesText(e.Floor), e.Limit)
	case Download:
		what = fmt.Sprintf("stalled mid-answer (under %s in %s)", bytesText(e.Floor), e.Limit)
	}
	return fmt.Sprintf("%s stalled on %s: it %s", e.Server, e.Call, what)
}

func (e *Error) Unwrap() error { return ErrStalled }

// Plain returns the *Error err wraps, without the transport's wrapping
// (`Get "url": ...`, which names the URL twice), or err when it wraps none.
func Plain(err error) error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	return err
}

func bytesText(n int64) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}

// describe names the server and the call of req.
func describe(req *http.Request) (server, call string) {
	server = req.URL.Scheme + "://" + req.URL.Host
	if nsid, ok := strings.CutPrefix(req.URL.Path, "/xrpc/"); ok {
		return server, nsid
	}
	return server, req.Method + " " + req.URL.Path
}
