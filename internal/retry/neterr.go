package retry

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/atmigrate/atmigrate/internal/stall"
)

// IsNetworkError classifies errors from the transport and from reading a
// response body: a dropped, refused, reset or timed-out connection, a body
// that ended early. Waiting and trying again may help.
func IsNetworkError(err error) bool {
	if err == nil || isLocalFileError(err) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, stall.ErrStalled) {
		return true
	}
	for _, e := range []syscall.Errno{syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT} {
		if errors.Is(err, e) {
			return true
		}
	}
	// url.Error implements net.Error itself; judge what it wraps.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		// An unknown host will not appear by waiting.
		return !dns.IsNotFound
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// net/http's unexported connection errors carry no type to test.
	msg := err.Error()
	for _, s := range []string{"server closed idle connection", "connection reset", "broken pipe", "transport connection broken", "http2: ", "stream error"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// IsCorruptEncoding reports a compressed body (net/http asks for gzip and
// decodes it) that was damaged on the way: the same as a truncated body.
func IsCorruptEncoding(err error) bool {
	var ce flate.CorruptInputError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce)
}

// IsDialError reports whether the request certainly never reached the
// server, so even a non-idempotent call may be sent again.
func IsDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// isLocalFileError reports an error from a file on this machine (a full
// disk, a read-only or unwritable directory): waiting and retrying the
// request cannot fix it. It must be told apart here because a
// syscall.Errno also satisfies net.Error.
func isLocalFileError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	return errors.As(err, &pe) || errors.As(err, &le)
}
