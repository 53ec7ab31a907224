package main

import (
	"reflect"
	"testing"
)

// The memory bench runs under `make bench` only; these check its parsing
// and formatting, with no process started and no timing.

func TestParseMemSettings(t *testing.T) {
	got, err := parseMemSettings(" shipped, none ,GOGC=50+GOMEMLIMIT=off,GOMEMLIMIT=64MiB")
	if err != nil {
		t.Fatal(err)
	}
	want := []memSetting{
		{Name: "shipped"},
		{Name: "none", Env: []string{"GOMEMLIMIT=off", "GOGC=100"}},
		{Name: "GOGC=50 GOMEMLIMIT=off", Env: []string{"GOGC=50", "GOMEMLIMIT=off"}},
		{Name: "GOMEMLIMIT=64MiB", Env: []string{"GOMEMLIMIT=64MiB"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"", ",", "fast", "GODEBUG=x", "GOGC"} {
		if _, err := parseMemSettings(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseRecordCounts(t *testing.T) {
	got, err := parseRecordCounts("500, 1_000_000")
	if err != nil || !reflect.DeepEqual(got, []int{500, 1000000}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-5", "1e6", "many"} {
		if _, err := parseRecordCounts(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestIsMemoryBench(t *testing.T) {
	for env, want := range map[string]bool{"memory": true, " Memory ": true, "": false, "M": false, "memory,S": false} {
		if got := isMemoryBench(env); got != want {
			t.Errorf("BENCH=%q: got %v", env, got)
		}
	}
}

func TestSpreadAndThousands(t *testing.T) {
	if s := spread([]float64{2, 1, 3}, "%.1f"); s != "2.0 (1.0-3.0)" {
		t.Errorf("spread = %q", s)
	}
	if s := spread([]float64{2}, "%.1f"); s != "2.0" {
		t.Errorf("spread of one = %q", s)
	}
	for n, want := range map[int]string{500: "500", 5000: "5,000", 1000000: "1,000,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q", n, got)
		}
	}
}
