package pds

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// carBytes stands in for a repo CAR: its content does not matter here.
var carBytes = bytes.Repeat([]byte("CAR-block-data-"), 100_000) // 1.5 MB

// truncatedOnce serves carBytes with a full Content-Length but cuts the
// connection halfway the first time.
func truncatedOnce(t *testing.T, n *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("did") != "did:plc:test" || r.URL.Query().Get("since") != "3prev" {
			xrpcError(w, 400, "InvalidRequest", "bad params "+r.URL.RawQuery)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.ipld.car")
		w.Header().Set("Content-Length", strconv.Itoa(len(carBytes)))
		if n.Add(1) == 1 {
			w.WriteHeader(200)
			_, _ = w.Write(carBytes[:len(carBytes)/2])
			w.(http.Flusher).Flush()
			hijackClose(t, w)
			return
		}
		_, _ = w.Write(carBytes)
	}
}

func TestDownloadRepoRestartsAfterTruncation(t *testing.T) {
	var n atomic.Int64
	h := newHarness(t, truncatedOnce(t, &n))
	path := filepath.Join(t.TempDir(), "repo.car")
	var total, maxSeen int64
	size, err := h.c.DownloadRepo(context.Background(), "did:plc:test", "3prev", path, nil, func(k int64) {
		total += k
		maxSeen = max(maxSeen, total)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(carBytes)) || !bytes.Equal(got, carBytes) {
		t.Errorf("size %d, file %d bytes, equal %v", size, len(got), bytes.Equal(got, carBytes))
	}
	if total != size {
		t.Errorf("onBytes total %d, want %d", total, size)
	}
	if maxSeen != size || n.Load() != 2 {
		t.Errorf("max progress %d, requests %d", maxSeen, n.Load())
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Errorf(".part left behind: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

func TestDownloadRepoWithTeeAsksForRestart(t *testing.T) {
	var n atomic.Int64
	h := newHarness(t, truncatedOnce(t, &n))
	path := filepath.Join(t.TempDir(), "repo.car")
	var tee bytes.Buffer
	var total int64
	_, err := h.c.DownloadRepo(context.Background(), "did:plc:test", "3prev", path, &tee, func(k int64) { total += k })
	if !errors.Is(err, ErrRestartWithTee) {
		t.Fatalf("got %v, want ErrRestartWithTee", err)
	}
	if n.Load() != 1 || total != 0 {
		t.Errorf("requests %d, progress %d; want 1 and 0", n.Load(), total)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Errorf(".part left behind")
	}
	// The caller resets its consumer and calls again.
	tee.Reset()
	size, err := h.c.DownloadRepo(context.Background(), "did:plc:test", "3prev", path, &tee, nil)
	if err != nil || size != int64(len(carBytes)) || !bytes.Equal(tee.Bytes(), carBytes) {
		t.Fatalf("second try: %d bytes, %v", size, err)
	}
}

func TestDownloadRepoNotFound(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		xrpcError(w, 400, "RepoDeactivated", "Repo has been deactivated: did:plc:test")
	})
	path := filepath.Join(t.TempDir(), "repo.car")
	if _, err := h.c.DownloadRepo(context.Background(), "did:plc:test", "", path, nil, nil); ErrorName(err) != "RepoDeactivated" {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file created on failure")
	}
}

func TestFetchBlobRetriesCorruptBody(t *testing.T) {
	blob := []byte("\x89PNG fake image bytes")
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cid") != "bafkblob" {
			xrpcError(w, 400, "BlobNotFound", "Blob not found")
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(blob)
	})
	calls := 0
	err := h.c.FetchBlob(context.Background(), "did:plc:test", "bafkblob", func(body io.Reader, size int64, ct string) error {
		calls++
		got, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if size != int64(len(blob)) || ct != "image/png" || !bytes.Equal(got, blob) {
			return fmt.Errorf("unexpected blob: size %d type %q", size, ct)
		}
		if calls == 1 {
			return fmt.Errorf("cid mismatch: %w", ErrCorruptBody)
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if ev := h.retryEvents(); len(ev) != 1 || !errors.Is(ev[0].Err, ErrCorruptBody) {
		t.Errorf("events %+v", ev)
	}

	// A non-transient callback error (say, a full disk) is not retried.
	calls = 0
	diskFull := errors.New("write blob: no space left on device")
	err = h.c.FetchBlob(context.Background(), "did:plc:test", "bafkblob", func(io.Reader, int64, string) error {
		calls++
		return diskFull
	})
	if !errors.Is(err, diskFull) || calls != 1 {
		t.Errorf("err %v after %d calls", err, calls)
	}

	// BlobNotFound is final.
	err = h.c.FetchBlob(context.Background(), "did:plc:test", "bafkother", func(io.Reader, int64, string) error { return nil })
	if ErrorName(err) != "BlobNotFound" {
		t.Errorf("got %v", err)
	}
}

func TestListBlobs(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("limit") != "500" || q.Get("did") != "did:plc:test" {
			xrpcError(w, 400, "InvalidRequest", "bad params")
			return
		}
		if q.Get("cursor") == "" {
			writeJSON(w, 200, map[string]any{"cids": []string{"a", "b"}, "cursor": "b"})
			return
		}
		writeJSON(w, 200, map[string]any{"cids": []string{}, "cursor": "b"})
	})
	cids, next, err := h.c.ListBlobs(context.Background(), "did:plc:test", "", 500)
	if err != nil || len(cids) != 2 || next != "b" {
		t.Fatalf("%v %q %v", cids, next, err)
	}
	cids, next, err = h.c.ListBlobs(context.Background(), "did:plc:test", next, 500)
	if err != nil || len(cids) != 0 || next != "" {
		t.Fatalf("last page: %v %q %v", cids, next, err)
	}
}

// TestDownloadRepoRetriesCorruptGzip: a gzip-encoded body damaged on the
// way (net/http decodes it and reports a bad checksum) is downloaded again,
// like a truncated one.
func TestDownloadRepoRetriesCorruptGzip(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(carBytes)
	_ = zw.Close()
	good := zipped.Bytes()
	bad := append([]byte(nil), good...)
	bad[len(bad)-6] ^= 0xff // inside the CRC-32 trailer
	var n atomic.Int64
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.ipld.car")
		w.Header().Set("Content-Encoding", "gzip")
		body := good
		if n.Add(1) == 1 {
			body = bad
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	path := filepath.Join(t.TempDir(), "repo.car")
	size, err := h.c.DownloadRepo(context.Background(), "did:plc:test", "", path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(carBytes)) || !bytes.Equal(got, carBytes) || n.Load() != 2 {
		t.Errorf("size %d, equal %v, requests %d (want 2)", size, bytes.Equal(got, carBytes), n.Load())
	}
}

// A server saying it hosts no such repo is an answer (RepoNotFound, a
// plain NotFound or a 404); a 500 or a network error says nothing.
func TestIsRepoNotFound(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&APIError{Status: 400, Name: "RepoNotFound"}, true},
		{fmt.Errorf("wrapped: %w", &APIError{Status: 400, Name: "NotFound"}), true},
		{&APIError{Status: 404}, true},
		{&APIError{Status: 400, Name: "RepoDeactivated"}, false},
		{&APIError{Status: 500, Name: "InternalServerError"}, false},
		{errors.New("connection refused"), false},
	} {
		if got := IsRepoNotFound(c.err); got != c.want {
			t.Errorf("IsRepoNotFound(%v) = %v", c.err, got)
		}
	}
}
