// Package identity owns who an account is and the one step of a migration
// that cannot be taken back: pointing the DID at the new PDS.
//
// It reads identities (a handle resolved to a DID, the DID's document from
// the PLC audit log or a did:web's did.json, the signing-key history a
// repo is checked against) and logs in with an account's password. It
// builds the PLC operation a migration wants, checks it, has it signed (by
// the user's rotation key, or by the old PDS with the token it emails),
// and submits it once: its CID is recorded before it is sent, a failure is
// judged from the audit log, and nothing goes on until the directory shows
// it. A did:web gets the document to publish instead. The guard commands
// live here too: watch compares the DID and both accounts with what the
// migration left, and recover and add-rotation-key send their operations
// through the same submission.
//
// The package knows nothing of the pipeline around it: the orchestrator
// (package migrate) hands each step what it needs, including the check
// that the new PDS holds everything, which gates every signature.
package identity
