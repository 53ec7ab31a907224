package main

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"256MB": 256e6, "1gb": 1e9, "512 MiB": 512 << 20, "100000": 100000, "1.5G": 1.5e9, "64k": 64e3} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1MB", "MB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
