package network

// TEMPORARY stub until the views land.

import (
	"context"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
)

type Expect struct{ DID, Host, Rev, Handle string }
type Options struct {
	Client      pds.Options
	CallTimeout time.Duration
}
type RelayOptions struct {
	Options
	Crawl      bool
	Wait, Poll time.Duration
}
type RelayState string

const RelayThrottled RelayState = "throttled"

type RelayView struct {
	Relay string     `json:"relay"`
	State RelayState `json:"state"`
}

func Hostname(u string) (string, error) { return u, nil }
func (RelayView) OK() bool               { return true }
func (RelayView) Line() string           { return "" }
func (RelayView) Summary() string        { return "" }
func (RelayView) Warning() string        { return "" }
func (RelayView) NeedsRepair() bool      { return false }
func CheckRelay(ctx context.Context, r string, e Expect, o RelayOptions) RelayView {
	return RelayView{Relay: r}
}
func CheckRelays(ctx context.Context, r []string, e Expect, o RelayOptions) []RelayView { return nil }

type AppViewView struct{ State AppViewState }

func (AppViewView) OK() bool        { return true }
func (AppViewView) Line() string    { return "" }
func (AppViewView) Warning() string { return "" }
func (AppViewView) Summary() string { return "" }
func CheckAppView(ctx context.Context, u string, e Expect, o Options) AppViewView {
	return AppViewView{}
}

const DefaultAccountLimit = 100

type HostView struct{}

func (HostView) OK() bool        { return true }
func (HostView) Line() string    { return "" }
func (HostView) Warning() string { return "" }
func CheckHost(ctx context.Context, relayURL, host string, coming int, limit int64, o Options) HostView {
	return HostView{}
}

const RelayUnknown RelayState = "unknown"

type AppViewState string

const AppViewUnknown AppViewState = "unknown"
