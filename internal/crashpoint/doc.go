// Package crashpoint holds the kill tests' crash points: named places in a
// run where a test can have the process SIGKILL itself, as an admin's
// kill -9 would. They exist only in builds made with -tags e2e; the
// release build's are empty functions the compiler inlines away.
package crashpoint
