// Package stall bounds how long an HTTP exchange may go without progress,
// whatever the size of its bodies: a server that never answers, answers
// its headers and then goes silent, stops mid-body, or trickles.
//
// It is an http.RoundTripper (Transport) under every client of a run, so
// the PDS, PLC directory, did:web, relay and AppView calls share one rule:
//   - the wait for the answer's headers is bounded by the call's Class
//     (Limits.HeaderWait): seconds for a read, minutes for an import,
//     whose server time is work, not a stall;
//   - while a body moves (the request's, then the answer's), every window
//     of Limits.Idle must move at least Limits.Floor bytes: no byte for
//     Idle ends it, and so does a trickle of a few bytes a second.
//
// A stalled exchange fails with an *Error wrapping ErrStalled, which names
// the server and the call; the retry policy (internal/retry) retries it a
// bounded number of times. There is no total timeout: a large repo that
// keeps moving is never cut.
package stall
