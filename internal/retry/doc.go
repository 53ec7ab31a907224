// Package retry owns the one retry policy every HTTP call of atmigrate goes
// through, the PDS's XRPC calls (internal/pds) and the PLC directory's
// (plc) alike: how many attempts, the capped exponential backoff with
// jitter between them, the reading of a server's announced reset
// (RateLimit-Reset, Retry-After), which failures are worth another attempt
// and which requests may be sent again at all, and the loop (Do) that puts
// these together, cancellation first.
//
// It knows HTTP statuses and network errors, never a protocol: each client
// says what a failure of its own was (Failure), and Do decides.
package retry
