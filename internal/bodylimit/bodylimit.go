// Package bodylimit reads a server's answer through a size limit chosen
// for its call, so that a server that sends more than the call can need (a
// hostile or broken one, or a proxy's endless page) makes a clear error
// naming the server and the call instead of filling memory. It owns the
// error (*TooLargeError) and the readers; each client chooses its limits.
// Streams (a repo CAR, a blob) are not read through it: they go to disk.
package bodylimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/atmigrate/atmigrate/internal/units"
)

// TooLargeError reports an answer that went past its call's limit. It is
// final: the same server asked again would send the same answer.
type TooLargeError struct {
	Server string // the server's URL or host
	Call   string // the XRPC method or the directory path
	Limit  int64  // bytes
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s at %s: answer larger than %s, the limit for this call", e.Call, e.Server, units.HumanBytes(e.Limit))
}

// Reader reads at most limit bytes of r; reading past them returns a
// *TooLargeError instead of more bytes (an answer of exactly limit bytes
// is read whole).
func Reader(r io.Reader, limit int64, server, call string) io.Reader {
	return &reader{r: r, left: limit, err: &TooLargeError{Server: server, Call: call, Limit: limit}}
}

type reader struct {
	r    io.Reader
	left int64
	err  *TooLargeError
}

func (l *reader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Only a byte beyond the limit makes the answer too large.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, l.err
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// ReadAll reads the whole answer, or fails with a *TooLargeError.
func ReadAll(r io.Reader, limit int64, server, call string) ([]byte, error) {
	return io.ReadAll(Reader(r, limit, server, call))
}

// DecodeJSON decodes the answer's JSON value into out, reading no more
// than limit bytes. Like json.Decoder, it ignores what follows the value.
func DecodeJSON(r io.Reader, limit int64, server, call string, out any) error {
	err := json.NewDecoder(Reader(r, limit, server, call)).Decode(out)
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return tl
	}
	return err
}
