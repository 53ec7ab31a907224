package network

import "testing"

func TestHostname(t *testing.T) {
	good := map[string]string{
		"https://pds.example.com":       "pds.example.com",
		"https://PDS.Example.com/":      "pds.example.com",
		"pds.example.com":               "pds.example.com",
		" https://pds.example.com ":     "pds.example.com",
		"https://pds.example.com:443":   "pds.example.com",
		"http://localhost:2583":         "localhost:2583",
		"localhost:2583":                "localhost:2583",
		"http://127.0.0.1:2583":         "localhost:2583",
		"http://[::1]:2583/":            "localhost:2583",
		"wss://pds.example.com":         "pds.example.com",
		"http://pds.example.com:80":     "pds.example.com",
		"https://xn--bcher-kva.example": "xn--bcher-kva.example",
	}
	for in, want := range good {
		got, err := Hostname(in)
		if err != nil || got != want {
			t.Errorf("Hostname(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "https://", "ftp://pds.example.com", "https://pds.example.com:8443", "http://localhost",
		"https://10.0.0.1", "https://pds", "https://pds.example.com/xrpc", "https://user@pds.example.com",
		"https://pds.example.com?x=1", "https://pds_example.com", "%%%",
	} {
		if got, err := Hostname(in); err == nil {
			t.Errorf("Hostname(%q) = %q, want an error", in, got)
		}
	}
}
