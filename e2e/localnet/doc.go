// Package localnet runs a real AT Protocol network on loopback for the
// end-to-end tests, the demo and the benchmark: one PLC directory
// (@did-plc/server with an in-memory database) and two reference PDSes
// (@atproto/pds 0.4.217), A and B, each in its own Node process.
//
// The package owns the Node side (server.js, package.json and the committed
// package-lock.json in this directory), the processes' lifetime, the mail
// capture that gives tests the PLC email token, and seeding accounts with
// posts, blobs, a profile and preferences over XRPC.
//
// It is test support code: it favours clear failures (a server's log tail
// when it dies) over generality. Node modules must be installed first with
// `make localnet-install`; [EnsureInstalled] says so when they are missing.
package localnet
