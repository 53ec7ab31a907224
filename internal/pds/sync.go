package pds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/retry"
)

// RepoStatus is com.atproto.sync.getRepoStatus output.
type RepoStatus struct {
	DID    string `json:"did"`
	Active bool   `json:"active"`
	Status string `json:"status"`
	Rev    string `json:"rev"`
}

// GetRepoStatus returns whether did's repo is hosted here and active. An
// unknown DID is an *APIError named RepoNotFound.
func (c *Client) GetRepoStatus(ctx context.Context, did string) (*RepoStatus, error) {
	var out RepoStatus
	if err := c.query(ctx, "com.atproto.sync.getRepoStatus", url.Values{"did": {did}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetLatestCommit returns the CID and rev of did's newest commit. It sends
// the session's token when there is one, since a deactivated repo answers
// only its owner.
func (c *Client) GetLatestCommit(ctx context.Context, did string) (cid, rev string, err error) {
	var out struct {
		CID string `json:"cid"`
		Rev string `json:"rev"`
	}
	if err := c.query(ctx, "com.atproto.sync.getLatestCommit", url.Values{"did": {did}}, &out); err != nil {
		return "", "", err
	}
	return out.CID, out.Rev, nil
}

// DownloadRepo streams com.atproto.sync.getRepo for did (only the blocks
// after rev since, when non-empty) into the file at path, through
// path+".part", fsync and rename, and returns the bytes written.
//
// A transient failure or a body shorter than its Content-Length starts the
// download again from zero. onBytes (may be nil) gets each chunk's size;
// when an attempt fails it is called with the negative of what that
// attempt counted. tee (may be nil) receives the same bytes; as it cannot
// be rewound, a restart after bytes reached it returns an error wrapping
// ErrRestartWithTee instead, so the caller can reset its consumer and call
// again.
func (c *Client) DownloadRepo(ctx context.Context, did, since, path string, tee io.Writer, onBytes func(int64)) (int64, error) {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", part, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(part)
		}
	}()
	q := url.Values{"did": {did}}
	if since != "" {
		q.Set("since", since)
	}
	var written int64
	r := &request{nsid: "com.atproto.sync.getRepo", query: q}
	err = c.do(ctx, r, func(resp *http.Response) error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return retry.Permanent(fmt.Errorf("rewind %s: %w", part, err))
		}
		if err := f.Truncate(0); err != nil {
			return retry.Permanent(fmt.Errorf("truncate %s: %w", part, err))
		}
		dst := io.Writer(f)
		if tee != nil {
			dst = io.MultiWriter(f, tee)
		}
		n, err := copyBody(dst, resp, onBytes)
		if err == nil {
			written = n
			return nil
		}
		if onBytes != nil && n > 0 {
			onBytes(-n)
		}
		if tee != nil && n > 0 && IsTransient(err) {
			return retry.Permanent(fmt.Errorf("%s at %s: %w: %w", r.nsid, c.host, ErrRestartWithTee, err))
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", part, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", part, err)
	}
	done = true
	if err := os.Rename(part, path); err != nil {
		os.Remove(part)
		return 0, fmt.Errorf("rename %s: %w", part, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return 0, err
	}
	return written, nil
}

// copyBody copies a response body to dst, reporting progress, and checks
// the length against Content-Length. Read errors are wrapped so that they
// stay transient; write errors are the caller's (a full disk is not
// retried).
func copyBody(dst io.Writer, resp *http.Response, onBytes func(int64)) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			if onBytes != nil {
				onBytes(int64(k))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("read body: %w", rerr)
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("read body: %w: %d of %d bytes", ErrCorruptBody, n, resp.ContentLength)
	}
	return n, nil
}

// ListBlobs lists one page of the CIDs of did's blobs
// (com.atproto.sync.listBlobs); next is "" after the last page.
func (c *Client) ListBlobs(ctx context.Context, did, cursor string, limit int) (cids []string, next string, err error) {
	q := url.Values{"did": {did}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		CIDs   []string `json:"cids"`
		Cursor string   `json:"cursor"`
	}
	if err := c.query(ctx, "com.atproto.sync.listBlobs", q, &out); err != nil {
		return nil, "", err
	}
	if len(out.CIDs) == 0 {
		// Some servers return a cursor even on an empty last page.
		out.Cursor = ""
	}
	return out.CIDs, out.Cursor, nil
}

// FetchBlob GETs com.atproto.sync.getBlob and calls fn with the body, its
// Content-Length (-1 if unknown) and Content-Type. When the request fails
// transiently, or fn returns a transient error (a body read error, or an
// error wrapping ErrCorruptBody such as a CID mismatch the caller found),
// the whole fetch is retried per the policy, calling fn again; fn must
// discard what it got from the failed attempt.
func (c *Client) FetchBlob(ctx context.Context, did, cid string, fn func(body io.Reader, size int64, contentType string) error) error {
	r := &request{nsid: "com.atproto.sync.getBlob", query: url.Values{"did": {did}, "cid": {cid}}}
	return c.do(ctx, r, func(resp *http.Response) error {
		err := fn(resp.Body, resp.ContentLength, resp.Header.Get("Content-Type"))
		if err != nil && !errors.Is(err, ErrCorruptBody) && !IsTransient(err) {
			return retry.Permanent(err)
		}
		return err
	})
}
