package bodylimit

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAllLimit(t *testing.T) {
	for _, tc := range []struct {
		body    string
		tooLong bool
	}{
		{"", false},
		{"12345", false}, // exactly the limit
		{"123456", true},
		{strings.Repeat("x", 1<<20), true},
	} {
		// OneByteReader: the limit holds however the body arrives.
		b, err := ReadAll(iotest.OneByteReader(strings.NewReader(tc.body)), 5, "https://pds.example", "com.atproto.server.describeServer")
		var tl *TooLargeError
		if tc.tooLong != errors.As(err, &tl) {
			t.Fatalf("%d bytes: err %v", len(tc.body), err)
		}
		if !tc.tooLong && string(b) != tc.body {
			t.Errorf("read %q, want %q", b, tc.body)
		}
	}
}

func TestDecodeJSONLimitNamesServerAndCall(t *testing.T) {
	var v map[string]any
	err := DecodeJSON(strings.NewReader(`{"a":"`+strings.Repeat("x", 3<<20)+`"}`), 1<<20, "https://pds.example", "com.atproto.sync.listBlobs", &v)
	want := "com.atproto.sync.listBlobs at https://pds.example: answer larger than 1.0 MB, the limit for this call"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if err := DecodeJSON(strings.NewReader(`{"a":1}`), 7, "s", "c", &v); err != nil || v["a"] != 1.0 {
		t.Fatalf("a 7 byte answer under a 7 byte limit: %v %v", v, err)
	}
}
