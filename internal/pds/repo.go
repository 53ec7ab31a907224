package pds

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
)

// UploadBlob streams body to com.atproto.repo.uploadBlob with
// Content-Length size and Content-Type mimeType ("" means
// application/octet-stream), re-reading it from offset 0 on every retry
// or token refresh, and returns the CID the server computed.
func (c *Client) UploadBlob(ctx context.Context, body io.ReadSeeker, size int64, mimeType string) (string, error) {
	const nsid = "com.atproto.repo.uploadBlob"
	r := &request{post: true, nsid: nsid, body: body, size: size, contentType: mimeType}
	var out struct {
		Blob struct {
			Ref struct {
				Link string `json:"$link"`
			} `json:"ref"`
		} `json:"blob"`
	}
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return "", err
	}
	if out.Blob.Ref.Link == "" {
		return "", fmt.Errorf("%s at %s: no blob ref in response", nsid, c.host)
	}
	return out.Blob.Ref.Link, nil
}

// ImportRepo streams a repo CAR of size bytes to com.atproto.repo.importRepo
// (Content-Type application/vnd.ipld.car, Content-Length size), re-reading
// it from offset 0 on every retry or token refresh. onBytes (may be nil)
// gets the size of each chunk sent and, when an attempt fails, the negative
// of what that attempt counted.
func (c *Client) ImportRepo(ctx context.Context, body io.ReadSeeker, size int64, onBytes func(int64)) error {
	r := &request{
		post:        true,
		nsid:        "com.atproto.repo.importRepo",
		body:        body,
		size:        size,
		contentType: "application/vnd.ipld.car",
		onBytes:     onBytes,
	}
	return c.do(ctx, r, nil)
}

// MissingBlob is a blob a record references that the PDS does not have.
type MissingBlob struct {
	CID       string `json:"cid"`
	RecordURI string `json:"recordUri"`
}

// ListMissingBlobs lists every blob the session account's records
// reference but the PDS lacks (com.atproto.repo.listMissingBlobs). It
// pages with limit 1000 until a page comes back empty, because the
// reference PDS returns a cursor even on the last page.
func (c *Client) ListMissingBlobs(ctx context.Context) ([]MissingBlob, error) {
	var all []MissingBlob
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(1000)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out struct {
			Blobs  []MissingBlob `json:"blobs"`
			Cursor string        `json:"cursor"`
		}
		if err := c.query(ctx, "com.atproto.repo.listMissingBlobs", q, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Blobs...)
		// A repeated cursor would loop forever on a misbehaving server.
		if len(out.Blobs) == 0 || out.Cursor == "" || out.Cursor == cursor {
			return all, nil
		}
		cursor = out.Cursor
	}
}
