package network

import (
	"context"
	"fmt"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// AppViewState is how an AppView shows a moved account.
type AppViewState string

const (
	// AppViewMatch: it shows the account with the expected handle (any
	// valid handle when none is expected).
	AppViewMatch AppViewState = "match"
	// AppViewHandleInvalid: it shows the account as handle.invalid: its
	// cached resolution of the handle does not point at the DID.
	AppViewHandleInvalid AppViewState = "handle-invalid"
	// AppViewOtherHandle: it shows another (valid) handle.
	AppViewOtherHandle AppViewState = "other-handle"
	// AppViewNotFound: it has no profile for the DID.
	AppViewNotFound AppViewState = "not-found"
	// AppViewDeactivated: it answers AccountDeactivated.
	AppViewDeactivated AppViewState = "deactivated"
	// AppViewTakendown: it answers AccountTakedown.
	AppViewTakendown AppViewState = "takendown"
	// AppViewUnknown: it could not be read.
	AppViewUnknown AppViewState = "unknown"
)

// AppViewView is what one AppView shows of the account.
type AppViewView struct {
	// AppView is the AppView's URL as given.
	AppView string `json:"appview"`
	// State is the verdict.
	State AppViewState `json:"state"`
	// DID is the account asked about.
	DID string `json:"did"`
	// Handle and DisplayName are what it shows; WantHandle what was
	// expected.
	Handle      string `json:"handle,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	WantHandle  string `json:"wantHandle,omitempty"`
	// Error is the AppView's error answer, or why it could not be read.
	Error string `json:"error,omitempty"`
}

// CheckAppView reads how the AppView at appviewURL shows e.DID
// (app.bsky.actor.getProfile, unauthenticated). It never returns an
// error: an AppView it cannot read is AppViewUnknown.
func CheckAppView(ctx context.Context, appviewURL string, e Expect, o Options) AppViewView {
	v := AppViewView{AppView: appviewURL, DID: e.DID, WantHandle: e.Handle}
	cl := o.caller(appviewURL)
	defer cl.close()
	var p *pds.Profile
	err := cl.call(ctx, func(ctx context.Context, c *pds.Client) (err error) {
		p, err = c.GetProfile(ctx, e.DID)
		return err
	})
	switch {
	case err == nil && p.DID != e.DID:
		v.State, v.Error = AppViewUnknown, fmt.Sprintf("getProfile answered for %q", p.DID)
	case err == nil && p.Handle == "":
		v.State, v.Error = AppViewUnknown, "getProfile answered without a handle"
	case err == nil:
		v.Handle, v.DisplayName = p.Handle, p.DisplayName
		switch {
		case strings.EqualFold(p.Handle, pds.HandleInvalid):
			v.State = AppViewHandleInvalid
		case e.Handle == "" || strings.EqualFold(p.Handle, e.Handle):
			v.State = AppViewMatch
		default:
			v.State = AppViewOtherHandle
		}
	case pds.IsProfileNotFound(err):
		v.State, v.Error = AppViewNotFound, describe(err)
	case pds.ErrorName(err) == "AccountDeactivated":
		v.State, v.Error = AppViewDeactivated, describe(err)
	case pds.ErrorName(err) == "AccountTakedown":
		v.State, v.Error = AppViewTakendown, describe(err)
	default:
		v.State, v.Error = AppViewUnknown, describe(err)
	}
	return v
}

// OK reports whether the AppView shows the account as expected.
func (v AppViewView) OK() bool { return v.State == AppViewMatch }

// Summary says the state in a few words, without the AppView's name.
func (v AppViewView) Summary() string {
	switch v.State {
	case AppViewMatch:
		return "shows @" + v.Handle
	case AppViewHandleInvalid:
		return "shows handle.invalid"
	case AppViewOtherHandle:
		return "shows @" + v.Handle + ", not @" + v.WantHandle
	case AppViewNotFound:
		return "does not know the account"
	case AppViewDeactivated:
		return "shows it deactivated"
	case AppViewTakendown:
		return "shows it taken down"
	}
	return "not known"
}

// Line is the view in one line for a human, e.g. "AppView
// https://api.bsky.app: shows @alice.example.com".
func (v AppViewView) Line() string {
	s := "AppView " + v.AppView + ": " + v.Summary()
	if v.State == AppViewUnknown && v.Error != "" {
		s += " (" + v.Error + ")"
	}
	return s
}

// Warning says what the state means and what to do; "" when OK.
func (v AppViewView) Warning() string {
	a := "AppView " + v.AppView
	want := "the handle"
	if v.WantHandle != "" {
		want = "@" + v.WantHandle
	}
	switch v.State {
	case AppViewMatch:
		return ""
	case AppViewHandleInvalid:
		return fmt.Sprintf("%s shows the account as handle.invalid: its identity cache still holds a resolution of the handle made before the move (or one that failed), and it refreshes within hours. Wait, or make it re-resolve now by setting %s again on the new PDS (an update to the same handle, as goat account update-handle does, announces the identity afresh). If it persists, check that %s still resolves to %s (DNS TXT _atproto or https://<handle>/.well-known/atproto-did).",
			a, want, want, v.DID)
	case AppViewOtherHandle:
		return fmt.Sprintf("%s shows @%s, not %s: it has not seen the handle change yet. It re-resolves identities within hours; setting %s again on the new PDS makes it do so now.",
			a, v.Handle, want, want)
	case AppViewNotFound:
		return fmt.Sprintf("%s has no profile for %s: it indexes what relays pass on, so see the relay lines first. Once the relays show the account in sync it appears within minutes; if it does not, run the same atmigrate command again later to nudge the relays.",
			a, v.DID)
	case AppViewDeactivated:
		return fmt.Sprintf("%s shows the account deactivated: it heard the old PDS deactivate it and not yet the new PDS activate it. See the relay lines: once the relays show it active this clears; if it stays, run the same atmigrate command again later to have the account announced again.",
			a)
	case AppViewTakendown:
		return fmt.Sprintf("%s shows the account taken down: that is the AppView's moderation, which a migration does not change; appeal to the AppView's operator.",
			a)
	}
	msg := a + " could not be read"
	if v.Error != "" {
		msg += " (" + v.Error + ")"
	}
	return msg + ": this says nothing about the account. Check the AppView's URL, or run the same atmigrate command again later."
}
