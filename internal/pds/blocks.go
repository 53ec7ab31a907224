package pds

import (
	"context"
	"net/url"
)

// GetBlocks returns com.atproto.sync.getBlocks for did's blocks cids: a
// CAR file, in memory. It sends the session's token when there is one,
// since a deactivated repo answers only its owner.
func (c *Client) GetBlocks(ctx context.Context, did string, cids ...string) ([]byte, error) {
	const nsid = "com.atproto.sync.getBlocks"
	var out []byte
	r := &request{nsid: nsid, query: url.Values{"did": {did}, "cids": cids}}
	err := c.do(ctx, r, readAll(nsid, &out))
	return out, err
}
