package failure

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// Rate limits are a state of the run, not a failure: a server that allows
// no more calls of a kind until some time tomorrow (the reference PDS's
// 1,000 uploads a day) stops the run cleanly, with the state kept, and
// the same command finishes after the reset. Short waits (up to
// pds.DefaultRetry.MaxRateLimitWait) are waited out by the client itself.

// RateLimitError means a server refuses more calls of one kind until
// Reset. It is resumable (exit 1).
type RateLimitError struct {
	Host   string
	Method string
	Reset  time.Time
	// Left is how many calls of that kind the run still has to make
	// (0: not known), and What names them ("blob uploads").
	Left int
	What string
	// NewPDS is true when the limit is the new PDS's, which its admin's
	// bypass key lifts.
	NewPDS bool
}

func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("%s allows no more %s calls", e.Host, e.Method)
	if !e.Reset.IsZero() {
		s += fmt.Sprintf(" until %s (in %s)", e.Reset.UTC().Format("2006-01-02 15:04 MST"), UntilWords(time.Until(e.Reset)))
	}
	if e.Left > 0 {
		s += fmt.Sprintf("; %d %s left to do", e.Left, cmp.Or(e.What, "calls"))
	}
	return s + "; the state is kept"
}

// Hint says when to run again and how the limit can be lifted.
func (e *RateLimitError) Hint() string {
	when := "later"
	if !e.Reset.IsZero() {
		when = "after " + e.Reset.UTC().Format("15:04 MST")
	}
	h := "run the same command again " + when + " to continue"
	if e.NewPDS {
		h += "; if you run the new PDS, pass its rate-limit bypass key with {ratelimit-bypass-key} to skip its limits"
	}
	return h
}

// rateLimited returns the 429 in err whose reset the client would not
// wait for, if any.
func RateLimited(err error) (*pds.APIError, bool) {
	var ae *pds.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
		return ae, true
	}
	return nil, false
}

// windowWords names a rate-limit window: "day", "hour", "5m0s".
func WindowWords(d time.Duration) string {
	switch d {
	case 24 * time.Hour:
		return "day"
	case time.Hour:
		return "hour"
	case 0:
		return "window"
	}
	return d.String()
}

// untilWords is a wait in hours and minutes: "23h59m", "12m", "under a minute".
func UntilWords(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// RateLimit turns a 429 the client would not wait for into a
// RateLimitError, with left calls of kind what still to make; newPDS says
// whether the limit is the new PDS's (which its bypass key lifts).
func RateLimit(ae *pds.APIError, left int, what string, newPDS bool) *RateLimitError {
	return &RateLimitError{Host: ae.Host, Method: ae.Method, Reset: ae.ResetAt, Left: left, What: what, NewPDS: newPDS}
}
