// Package checkpoint owns a migration's state directory: the state file
// (what each stage did, what the servers were last seen to hold, how the
// last run stopped), the lock that keeps two runs out of one directory,
// and the rules for reusing a directory a mistyped run left behind. It
// holds no secret: no password, token or key ever reaches the state file.
package checkpoint
