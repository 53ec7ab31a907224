// Package failure owns the kinds of error a migration can stop with, and
// so the way forward each one offers: bad input (change something, then
// run again: exit 2), a stage that failed in passing (run again: exit 1),
// a pause (run again with what it waits for: exit 3), a rate limit (run
// again after its reset). The CLI turns them into exit codes and words.
// The core's words never name a flag: they name the user's Choice
// ({old-password}), and whoever shows them says how that choice is made.
package failure
