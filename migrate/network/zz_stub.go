package network

// TEMPORARY stub until the views land.

import (
	"context"
	"net/http"
	"time"
)

type Expect struct{ DID, Host, Rev, Handle string }
type RelayOptions struct {
	Crawl      bool
	Wait, Poll time.Duration
	HTTPClient *http.Client
}
type RelayView struct{ Relay string }

func (RelayView) OK() bool            { return true }
func (RelayView) Line() string        { return "" }
func (RelayView) Warning() string     { return "" }
func (RelayView) NeedsRepair() bool   { return false }
func CheckRelay(ctx context.Context, r string, e Expect, o RelayOptions) RelayView { return RelayView{Relay: r} }

type AppViewOptions struct{ HTTPClient *http.Client }
type AppViewView struct{}

func (AppViewView) OK() bool         { return true }
func (AppViewView) Line() string     { return "" }
func (AppViewView) Warning() string  { return "" }
func (AppViewView) Summary() string  { return "" }
func CheckAppView(ctx context.Context, u string, e Expect, o AppViewOptions) AppViewView { return AppViewView{} }
