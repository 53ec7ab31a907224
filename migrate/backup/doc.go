// Package backup owns an account's backup: a directory holding the repo
// (repo.car), its blobs (blobs/<cid>), the preferences, the DID's PLC audit
// log and, written last and atomically, manifest.json naming each file's
// size and hash, so a directory with a manifest is a complete backup.
//
// Export writes one from the account's PDS, verifying everything as it
// arrives, and updates an existing one in place (only the blobs not there
// and intact are fetched). Verify checks a directory whole before anything
// is done with it: the repo against the DID's signing keys of its time,
// every blob against its CID. A Source reads a verified backup as the data
// source of a migration that never contacts the old PDS.
//
// The package knows nothing of the pipeline: the restore itself (the
// temporary signing key, the new account) is the orchestrator's, in
// package migrate, which makes a Source of what Verify returned.
package backup
