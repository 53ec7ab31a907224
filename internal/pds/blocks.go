package pds

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/atmigrate/atmigrate/internal/retry"
)

// maxBlocksBytes bounds a getBlocks answer: it is asked for a handful of
// blocks (a commit is a few hundred bytes).
const maxBlocksBytes = 4 << 20

// GetBlocks returns com.atproto.sync.getBlocks for did's blocks cids: a
// CAR file, in memory. It sends the session's token when there is one,
// since a deactivated repo answers only its owner.
func (c *Client) GetBlocks(ctx context.Context, did string, cids ...string) ([]byte, error) {
	const nsid = "com.atproto.sync.getBlocks"
	var out []byte
	r := &request{nsid: nsid, query: url.Values{"did": {did}, "cids": cids}}
	err := c.do(ctx, r, func(resp *http.Response) error {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBlocksBytes+1))
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		if len(b) > maxBlocksBytes {
			return retry.Permanent(fmt.Errorf("%s at %s: answer larger than %d bytes", nsid, c.host, maxBlocksBytes))
		}
		out = b
		return nil
	})
	return out, err
}
