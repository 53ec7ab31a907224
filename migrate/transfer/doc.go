// Package transfer moves an account's data: the repo (downloaded and
// verified in one pass, imported into the new PDS) and its blobs
// (downloaded once each into a bounded disk window, uploaded, and
// confirmed on the new PDS by its own answers or by fetching them back).
// It owns the blob list, the blob store in the state dir, the new PDS's
// size limits and the blobs left behind at the user's request; it records
// what it did through the checkpoint's journal.
package transfer
