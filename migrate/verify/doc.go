// Package verify owns the comparison of a migrated account's two sides:
// what `atmigrate verify` reports, and what the migration's final check
// runs in its quick form. It compares the DID document, the records, the
// blobs, the preferences and both accounts' status, each as a named check
// that passes, warns, is skipped or fails, independently of any migration
// state: a report says what the servers hold, not what a run believes it
// did.
//
// It talks only to the two PDSes it is given and reads the DID document
// through the caller's reader, so that package migrate, which runs it,
// is never imported back.
package verify
