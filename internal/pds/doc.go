// Package pds is the XRPC client layer the migration pipeline uses to talk
// to the old and the new PDS.
//
// It owns everything below "call this endpoint": the session and its token
// refresh, streaming request and response bodies with an exact
// Content-Length, and typed errors. Retries with backoff and 429 handling
// follow the policy in internal/retry, which the PLC client shares. It is
// built on plain net/http rather than indigo's atclient because atclient
// drops Content-Length, buffers sync.getRepo and sync.getBlob, refreshes
// only on one error shape and hides the rate-limit headers; the request
// and response bodies here are plain JSON structs or raw JSON, so
// preferences and PLC operations pass through losslessly.
//
// Auth tokens and passwords live only in memory and never appear in an
// error.
package pds
