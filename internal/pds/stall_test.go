package pds

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
)

func TestStalledBodyIsAbandonedAndRetried(t *testing.T) {
	blob := bytes.Repeat([]byte("x"), 100_000)
	release := make(chan struct{})
	var n atomic.Int64
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
		if n.Add(1) == 1 {
			_, _ = w.Write(blob[:1000])
			w.(http.Flusher).Flush()
			select { // go silent
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write(blob)
	})
	t.Cleanup(func() { close(release) })
	h.setStall(200 * time.Millisecond)
	start := time.Now()
	var got []byte
	err := h.c.FetchBlob(context.Background(), "did:plc:test", "bafk", func(body io.Reader, size int64, _ string) error {
		var err error
		got, err = io.ReadAll(body)
		return err
	})
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("err %v, %d bytes", err, len(got))
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	ev := h.retryEvents()
	if len(ev) != 1 || !errors.Is(ev[0].Err, errStalled) || !IsTransient(ev[0].Err) {
		t.Errorf("events %+v", ev)
	}
}

func TestSlowServerIsNotAStall(t *testing.T) {
	// Processing time after the request was written (importRepo can take
	// minutes) is not a stall: it waits its class's HeaderWait, 20 windows.
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		time.Sleep(400 * time.Millisecond)
		w.WriteHeader(200)
	})
	h.setStall(100 * time.Millisecond)
	h.c.setTokens(access2, refresh2, "did:plc:test")
	if err := h.c.ImportRepo(context.Background(), bytes.NewReader(carBytes), int64(len(carBytes)), nil); err != nil {
		t.Fatal(err)
	}
	if h.requests.Load() != 1 {
		t.Errorf("requests %d", h.requests.Load())
	}
}

func TestStalledDownloadWithTeeAsksForRestart(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int64
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(carBytes)))
		if n.Add(1) == 1 {
			_, _ = w.Write(carBytes[:1000])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write(carBytes)
	})
	t.Cleanup(func() { close(release) })
	h.setStall(200 * time.Millisecond)
	var tee bytes.Buffer
	_, err := h.c.DownloadRepo(context.Background(), "did:plc:test", "", t.TempDir()+"/repo.car", &tee, nil)
	if !errors.Is(err, ErrRestartWithTee) || !errors.Is(err, errStalled) || n.Load() != 1 {
		t.Fatalf("got %v after %d requests", err, n.Load())
	}
}

// setStall puts the client under a short idle limit.
func (h *harness) setStall(d time.Duration) {
	h.c.hc = &http.Client{Transport: &stall.Transport{Limits: stall.Limits{Idle: d}}}
}
