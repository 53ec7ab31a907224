package network

import (
	"context"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
)

func TestCheckHostStates(t *testing.T) {
	cases := []struct {
		name   string
		host   *fakenet.RelayHost
		coming int
		limit  int64
		state  HostState
		ok     bool
		line   []string
		warn   []string
	}{
		{"ready", &fakenet.RelayHost{Status: "active", AccountCount: 10}, 5, 0, HostReady, true, []string{"active with 10 accounts", "5 more stay within the limit of 100"}, nil},
		{"ready at the limit", &fakenet.RelayHost{Status: "active", AccountCount: 95}, 5, 0, HostReady, true, []string{"limit of 100"}, nil},
		{"over the default limit", &fakenet.RelayHost{Status: "active", AccountCount: 96}, 5, 0, HostOverLimit, false, []string{"pass the limit of 100 by 1"},
			[]string{"1 of the 5 accounts", "throttled", "already knew", "raise pds.example.com's account limit", "limit assumed is 100"}},
		{"over a given limit", &fakenet.RelayHost{Status: "active", AccountCount: 1}, 5, 3, HostOverLimit, false, []string{"limit of 3 by 3"}, []string{"3 of the 5 accounts"}},
		{"new", nil, 20, 0, HostNew, true, []string{"never seen"}, nil},
		{"new past the limit", nil, 5, 3, HostNew, false, []string{"never seen", "2 of the 5 accounts would pass the limit of 3"}, []string{"2 of the 5 accounts", "throttled"}},
		{"throttled", &fakenet.RelayHost{Status: "throttled", AccountCount: 2}, 1, 0, HostThrottled, false, []string{"throttled"}, []string{"lift the throttle"}},
		{"banned", &fakenet.RelayHost{Status: "banned"}, 1, 0, HostBanned, false, []string{"banned"}, []string{"has banned host pds.example.com"}},
		{"offline", &fakenet.RelayHost{Status: "offline", AccountCount: 2}, 1, 0, HostOffline, false, []string{"stopped following"}, []string{"crawl request reconnects it"}},
		{"idle", &fakenet.RelayHost{Status: "idle"}, 1, 0, HostOffline, false, []string{"idle"}, []string{"reconnects"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fakenet.NewRelay(t)
			if tc.host != nil {
				r.SetHost(host, *tc.host)
			}
			v := CheckHost(context.Background(), r.URL, host, tc.coming, tc.limit, fast)
			if v.State != tc.state || v.OK() != tc.ok {
				t.Fatalf("state %s OK %v, want %s %v (%+v)", v.State, v.OK(), tc.state, tc.ok, v)
			}
			if tc.limit == 0 && v.Limit != DefaultAccountLimit {
				t.Errorf("limit %d, want the default", v.Limit)
			}
			mustContain(t, "line", v.Line(), append([]string{"relay " + r.URL + ": host pds.example.com"}, tc.line...)...)
			if w := v.Warning(); tc.warn == nil {
				if w != "" {
					t.Errorf("warning %q", w)
				}
			} else {
				mustContain(t, "warning", w, tc.warn...)
			}
		})
	}
}

func TestCheckHostUnknown(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.SetBroken(true)
	v := CheckHost(context.Background(), r.URL, host, 1, 0, fast)
	if v.State != HostUnknown || v.OK() {
		t.Fatalf("state %s", v.State)
	}
	mustContain(t, "warning", v.Warning(), "could not be read")
	r.SetBroken(false)
	r.SetRawAnswer("com.atproto.sync.getHostStatus", 200, `{"hostname":"pds.example.com","accountCount":"many"}`)
	if v := CheckHost(context.Background(), r.URL, host, 1, 0, fast); v.State != HostUnknown || v.Error == "" {
		t.Fatalf("malformed: %+v", v)
	}
}
