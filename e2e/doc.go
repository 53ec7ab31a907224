// Package e2e holds the end-to-end tests: they build the real atmigrate
// binary and run it against a real PLC directory and two real reference
// PDSes on loopback (see e2e/localnet). `go test -short` skips them.
package e2e
