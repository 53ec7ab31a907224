package network

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
)

func TestAppViewStates(t *testing.T) {
	cases := []struct {
		name    string
		profile *fakenet.AppViewProfile
		err     *fakenet.XRPCError
		want    string // Expect.Handle
		state   AppViewState
		line    []string
		warn    []string
	}{
		{"match", &fakenet.AppViewProfile{Handle: handle, DisplayName: "Alice"}, nil, handle, AppViewMatch, []string{"shows @" + handle}, nil},
		{"match ignores case", &fakenet.AppViewProfile{Handle: "Alice.Example.com"}, nil, handle, AppViewMatch, []string{"shows @Alice.Example.com"}, nil},
		{"any handle when none expected", &fakenet.AppViewProfile{Handle: "bob.test"}, nil, "", AppViewMatch, []string{"shows @bob.test"}, nil},
		{"handle.invalid", &fakenet.AppViewProfile{Handle: "handle.invalid"}, nil, handle, AppViewHandleInvalid, []string{"shows handle.invalid"},
			[]string{"identity cache", "within hours", "Wait", "@" + handle + " again on the new PDS"}},
		{"handle.invalid when none expected", &fakenet.AppViewProfile{Handle: "handle.invalid"}, nil, "", AppViewHandleInvalid, []string{"handle.invalid"}, []string{"identity cache"}},
		{"other handle", &fakenet.AppViewProfile{Handle: "old.bsky.social"}, nil, handle, AppViewOtherHandle, []string{"shows @old.bsky.social, not @" + handle}, []string{"re-resolves"}},
		{"not found", nil, nil, handle, AppViewNotFound, []string{"does not know the account"}, []string{"relay lines"}},
		{"deactivated", nil, fakenet.AccountDeactivated(), handle, AppViewDeactivated, []string{"deactivated"}, []string{"old PDS deactivate", "run the same atmigrate command again later"}},
		{"takendown", nil, fakenet.AccountTakedown(), handle, AppViewTakendown, []string{"taken down"}, []string{"moderation"}},
		{"other error", nil, &fakenet.XRPCError{Status: 400, Name: "InvalidRequest", Message: "Error: actor must be a valid did or a handle"}, handle, AppViewUnknown,
			[]string{"not known", "actor must be a valid did"}, []string{"could not be read"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := fakenet.NewAppView(t)
			if tc.profile != nil {
				a.SetProfile(did, *tc.profile)
			}
			if tc.err != nil {
				a.SetError(did, tc.err)
			}
			e := expect
			e.Handle = tc.want
			v := CheckAppView(context.Background(), a.URL, e, fast)
			if v.State != tc.state {
				t.Fatalf("state %s, want %s (%+v)", v.State, tc.state, v)
			}
			if v.OK() != (tc.state == AppViewMatch) {
				t.Errorf("OK() = %v", v.OK())
			}
			mustContain(t, "line", v.Line(), append([]string{"AppView " + a.URL + ": "}, tc.line...)...)
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

func TestAppViewUnreachableAndMalformed(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	start := time.Now()
	v := CheckAppView(context.Background(), url, expect, Options{CallTimeout: 3 * time.Second})
	if v.State != AppViewUnknown || time.Since(start) > 3*time.Second {
		t.Fatalf("closed port: %s after %s", v.State, time.Since(start))
	}

	a := fakenet.NewAppView(t)
	a.SetBroken(true)
	if v := CheckAppView(context.Background(), a.URL, expect, fast); v.State != AppViewUnknown {
		t.Errorf("502: state %s", v.State)
	}
	for _, body := range []string{`{"did":`, `"x"`, `{"did":"` + did + `"}`, `{"did":"did:plc:other","handle":"alice.example.com"}`, `{"did":"` + did + `","handle":7}`} {
		a.SetBroken(false)
		a.SetRawAnswer(200, body)
		v := CheckAppView(context.Background(), a.URL, expect, fast)
		if v.State != AppViewUnknown || v.Error == "" {
			t.Errorf("body %q: state %s error %q, want unknown", body, v.State, v.Error)
		}
	}
}
