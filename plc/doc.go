// Package plc owns everything atmigrate does with a did:plc identity: it
// fetches and verifies the audit log, reads from it the DID's signing-key
// history (which repo commits are checked against), builds the next
// operation by merging what a migration needs into the current document
// (never by replacing it), signs operations locally, checks an operation
// before it is submitted, submits it, handles rotation keys and renders a
// readable diff.
//
// Its directory client retries under the policy the PDS calls share
// (internal/retry), submits without ever repeating an operation the
// directory may already hold, and waits (Await, bounded) for read replicas
// that lag behind a write.
//
// It is the layer that protects the user from locking themselves out. The
// rules it enforces come from PLC and PDS behaviour measured against
// @atproto/pds 0.4.217 and @did-plc/server 0.0.1: user rotation keys stay first, the old PDS's
// key is dropped, the new PDS's key is added (activateAccount needs it), and
// every operation is verified locally against the current rotation keys and
// the PLC's limits before it leaves the machine, because a submitted
// operation cannot be taken back except by a higher-priority key within 72
// hours.
package plc
