package migrate

import "testing"

func TestHandleAllowed(t *testing.T) {
	for _, c := range []struct {
		h    string
		doms []string
		want bool
	}{
		{"alice.test", []string{".test"}, true},
		{"alice.test", []string{"test"}, true},
		{"alice.example.com", []string{".test"}, false},
		{".test", []string{".test"}, false},
		{"alice.pds.example", []string{".other", ".pds.example"}, true},
	} {
		if got := handleAllowed(c.h, c.doms); got != c.want {
			t.Errorf("handleAllowed(%q, %v) = %v", c.h, c.doms, got)
		}
	}
}
