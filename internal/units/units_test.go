package units

import "testing"

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 accounts"}, {1, "1 account"}, {12, "12 accounts"}} {
		if got := Count(c.n, "account"); got != c.want {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
