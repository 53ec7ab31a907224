package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPDSVersions(t *testing.T) {
	for env, want := range map[string]string{
		"": "0.4 0.4", "0.4": "0.4 0.4", "0.5": "0.4 0.5", " 0.5 ": "0.4 0.5",
		"0.5,0.5": "0.5 0.5", "0.5, 0.4": "0.5 0.4", "0.4,0.5": "0.4 0.5",
		"0.6": "error", "0.5.35": "error", "0.4,0.5,0.5": "error", ",0.5": "error", "0.5,": "error",
	} {
		a, b, err := pdsVersions(env)
		got := a + " " + b
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("BENCH_PDS=%q: got %q, want %q", env, got, want)
		}
	}
}

func TestServersLine(t *testing.T) {
	s := Servers{
		A: PDSInfo{Package: "0.4.217", Health: "0.4.217-localnet", Node: "v20.20.2"},
		B: PDSInfo{Package: "0.5.35", Health: "0.5.35-localnet"},
	}
	want := "servers: PDS A @atproto/pds 0.4.217 (Node v20.20.2), PDS B @atproto/pds 0.5.35"
	if got := serversLine(s); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	var buf bytes.Buffer
	printTable(&buf, &Report{Servers: s, Runs: 1})
	if !strings.Contains(buf.String(), "\n"+want+"\n") {
		t.Errorf("the report's header does not name the servers:\n%s", buf.String())
	}
}

func TestHealthVersion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xrpc/_health" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"version":"0.5.35-localnet"}`))
	}))
	defer srv.Close()
	v, err := healthVersion(context.Background(), srv.URL)
	if err != nil || v != "0.5.35-localnet" {
		t.Errorf("got %q, %v", v, err)
	}
	if _, err := healthVersion(context.Background(), srv.URL+"/nowhere"); err == nil {
		t.Error("a 404 gave no error")
	}
}
