package pds

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/atmigrate/atmigrate/internal/bodylimit"
	"github.com/atmigrate/atmigrate/internal/retry"
)

// JSON answers are read through a limit per method (bodylimit), so a
// server that sends more than the call can need fails the call with an
// error naming the server and the method, instead of filling memory. The
// repo CAR and blobs are streamed to disk and never read this way.
const (
	// smallAnswer bounds the answers that describe one thing: a server,
	// a session, a repo's status, a commit, a handle, a token, a
	// profile. They are a few hundred bytes; 1 MB leaves room for any
	// extension a server adds.
	smallAnswer = 1_000_000
	// pageAnswer bounds one page of a listing (listBlobs,
	// listMissingBlobs), asked for 1,000 entries of about 60 and 150
	// bytes: 16 MB still holds a page from a server that ignores the
	// limit parameter and sends 100,000.
	pageAnswer = 16_000_000
	// recordAnswer bounds an answer that carries a user's own data: a
	// record (at most 1 MB of CBOR, some more as JSON) or the
	// preferences (muted words and saved feeds, rarely over 100 kB).
	recordAnswer = 8_000_000
	// blocksAnswer bounds a getBlocks CAR, asked for a handful of blocks
	// (a commit is a few hundred bytes).
	blocksAnswer = 4_000_000
)

// answerLimits are the methods whose answers may be larger than
// smallAnswer.
var answerLimits = map[string]int64{
	"com.atproto.sync.listBlobs":        pageAnswer,
	"com.atproto.repo.listMissingBlobs": pageAnswer,
	"com.atproto.repo.getRecord":        recordAnswer,
	"app.bsky.actor.getPreferences":     recordAnswer,
	"com.atproto.sync.getBlocks":        blocksAnswer,
}

// answerLimit is the most an answer to nsid may hold.
func answerLimit(nsid string) int64 {
	if l, ok := answerLimits[nsid]; ok {
		return l
	}
	return smallAnswer
}

// serverOf names the server that sent resp, as the other errors do.
func serverOf(resp *http.Response) string {
	if resp.Request == nil || resp.Request.URL == nil {
		return "the server"
	}
	return resp.Request.URL.Scheme + "://" + resp.Request.URL.Host
}

// decodeJSON returns a handler that decodes the response body into out
// (nil: ignore the body), reading no more than the method's limit. An
// answer over it is final: the server would send it again.
func decodeJSON(nsid string, out any) func(*http.Response) error {
	return func(resp *http.Response) error {
		if out == nil {
			return nil
		}
		err := bodylimit.DecodeJSON(resp.Body, answerLimit(nsid), serverOf(resp), nsid, out)
		var tl *bodylimit.TooLargeError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &tl):
			return retry.Permanent(tl)
		}
		return fmt.Errorf("decode %s output: %w", nsid, err)
	}
}

// readAll returns a handler that reads the whole response body into *out,
// within the method's limit.
func readAll(nsid string, out *[]byte) func(*http.Response) error {
	return func(resp *http.Response) error {
		b, err := bodylimit.ReadAll(resp.Body, answerLimit(nsid), serverOf(resp), nsid)
		var tl *bodylimit.TooLargeError
		switch {
		case errors.As(err, &tl):
			return retry.Permanent(tl)
		case err != nil:
			return fmt.Errorf("read body: %w", err)
		}
		*out = b
		return nil
	}
}
