// Package fakenet is an in-memory fake PDS and PLC directory on httptest,
// for unit tests of resume decisions without Node.
//
// It owns five servers and nothing else:
//
//   - PLC (NewPLC): a PLC directory holding per-DID operation logs. It
//     checks submitted operations the way @did-plc/server 0.0.1 does (prev
//     chain, signature against the previous operation's rotation keys,
//     nullification by a higher-priority key within 72 hours) and answers
//     with the same {"message": ...} errors and document formats.
//   - PDS (NewPDS): one PDS with its own service DID, rotation key and
//     in-memory accounts, answering the XRPC endpoints a migration uses
//     with the JSON shapes and {"error","message"} errors of the reference
//     PDS (@atproto/pds 0.4.217). Per-account state (repo commit, blobs,
//     preferences, activation) is plain data that tests read with Account
//     and change with Modify.
//   - DIDWebHost (NewDIDWebHost): a user's web server publishing one
//     did:web document on localhost.
//   - Relay (NewRelay) and AppView (NewAppView): the answers of a relay
//     (requestCrawl, getRepoStatus, getHostStatus) and of an AppView
//     (getProfile) that nobody runs here: banned and throttled hosts, 5xx,
//     refusals; the real relay runs in the end-to-end tests.
//
// PDSOptions holds the PDS's behaviours that differ between
// implementations or configurations (invite codes, upload limits,
// re-signed imports, blobs expected from imported records, ...).
// The PLC and the PDS have test knobs: Down/Up (every request's connection is closed, so
// clients see a network error), LoseResponse (the next n calls take effect
// but their connection is closed before the answer), Calls (requests per
// NSID or route), Fail (the next n calls answer a given error), and a
// replaceable clock on the PLC.
//
// The fakes are for tests only: tokens are opaque HS256 JWTs checked by
// lookup, nothing is persisted, and endpoints that a migration never calls
// answer 501 MethodNotImplemented. This package must not import other
// atmigrate packages, so that their own tests can use it.
package fakenet
