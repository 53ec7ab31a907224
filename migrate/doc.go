// Package migrate owns the account migration pipeline: an ordered list of
// named stages, each idempotent and checkpointed in a state directory, that
// move one AT Protocol account from an old PDS to a new one.
//
// The package never touches flags or terminals. It reports what it does
// through a Progress implementation and asks the user questions (the PLC
// email token, a confirmation) through a UI implementation; the CLI in
// cmd/atmigrate provides both. Every run re-derives what it can from the
// servers (does the account exist on the new PDS, which commit did it
// import, which blobs are missing, where does the PLC directory point)
// instead of trusting the checkpoint blindly, so a run killed at any point
// can simply be started again.
//
// The guard rails that protect the user are enforced here, not in the CLI:
// the PLC operation is never requested or submitted while the new PDS is
// missing a record or a blob, and the old account is never deactivated
// before the PLC directory resolves the DID to the new PDS and the new
// account is active.
package migrate
