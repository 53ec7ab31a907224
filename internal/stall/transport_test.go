package stall

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall/stalltest"
)

var testLimits = Limits{Idle: 200 * time.Millisecond, Floor: 1 << 10}

func TestEachStallKindEndsWithAnErrorNamingServerAndCall(t *testing.T) {
	for _, kind := range stalltest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv, _ := stalltest.Server(t, kind)
			hc := Guard(nil, testLimits)
			start := time.Now()
			err := get(hc, srv.URL+"/xrpc/com.atproto.sync.getRepo?did=x")
			took := time.Since(start)
			var se *Error
			if !errors.As(err, &se) || !errors.Is(err, ErrStalled) {
				t.Fatalf("err %v", err)
			}
			if se.Server != srv.URL || se.Call != "com.atproto.sync.getRepo" {
				t.Errorf("names %q %q", se.Server, se.Call)
			}
			if !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "com.atproto.sync.getRepo") {
				t.Errorf("message %q", err)
			}
			wantPhase := map[string]Phase{"nothing": NoAnswer, "headers": Download, "midbody": Download, "trickle": Download}[kind]
			if se.Phase != wantPhase {
				t.Errorf("phase %d, want %d", se.Phase, wantPhase)
			}
			// One window to notice, at most one more to judge.
			if took < testLimits.Idle || took > 3*testLimits.Idle+300*time.Millisecond {
				t.Errorf("took %s", took)
			}
		})
	}
}

func get(hc *http.Client, u string) error {
	resp, err := hc.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func TestAStreamThatKeepsMovingIsNeverCut(t *testing.T) {
	// 7 windows long in total, but every window moves far more than the
	// floor: no total timeout.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("y"), 4<<10)
		for range 30 {
			_, _ = w.Write(chunk)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	if err := get(Guard(nil, testLimits), srv.URL+"/big"); err != nil {
		t.Fatal(err)
	}
}

func TestACallerThatPausesIsNotAStall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("z"), 64<<10))
	}))
	defer srv.Close()
	resp, err := Guard(nil, testLimits).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4<<10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * testLimits.Idle) // the caller is busy (a slow disk)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("after a pause: %v", err)
	}
}

func TestServerWorkWaitsLongerThanAQuickRead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(2 * testLimits.Idle) // applying an import
		w.WriteHeader(200)
	}))
	defer srv.Close()
	hc := Guard(nil, testLimits)
	post := func(c Class) error {
		req, _ := http.NewRequestWithContext(WithClass(context.Background(), c), http.MethodPost,
			srv.URL+"/xrpc/com.atproto.repo.importRepo", bytes.NewReader(make([]byte, 50<<10)))
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := post(LongWork); err != nil {
		t.Errorf("long work: %v", err)
	}
	if err := post(Quick); !errors.Is(err, ErrStalled) {
		t.Errorf("quick: %v", err)
	}
}

func TestAServerThatStopsReadingTheUploadStalls(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.CopyN(io.Discard, r.Body, 1000)
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	defer func() { close(done); srv.Close() }()
	// Larger than the socket buffers, so the writer blocks.
	body := bytes.NewReader(make([]byte, 64<<20))
	start := time.Now()
	resp, err := Guard(nil, testLimits).Post(srv.URL+"/xrpc/com.atproto.repo.uploadBlob", "application/octet-stream", body)
	if err == nil {
		resp.Body.Close()
	}
	var se *Error
	if !errors.As(err, &se) || se.Phase != Upload {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(start); took > 5*testLimits.Idle {
		t.Errorf("took %s", took)
	}
}

func TestCancelStopsAtOnce(t *testing.T) {
	srv, _ := stalltest.Server(t, "nothing")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	_, err := Guard(nil, Limits{Idle: time.Minute}).Do(req)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrStalled) {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %s", took)
	}
}

func TestGuardKeepsAnOwnersLimits(t *testing.T) {
	own := Guard(nil, Limits{Idle: time.Second})
	if got := Guard(own, Default); got != own {
		t.Error("re-wrapped")
	}
	if got := Guard(nil, Limits{Idle: -1}).Transport.(Bounded).StallLimits(); !got.Off() {
		t.Errorf("off: %+v", got)
	}
}
