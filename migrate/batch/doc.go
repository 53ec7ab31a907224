// Package batch migrates many accounts to one new PDS, resumably: the
// admin's `atmigrate batch`.
//
// It is a client of the pipeline, nothing more: each account runs
// migrate.Run with a state dir of its own (<dir>/<did>), resolved by
// migrate.ResolveDID, so one account can be inspected or finished by hand
// with `atmigrate status` and `atmigrate migrate --state-dir`. What it owns
// is the batch's own vocabulary: the accounts file (CSV or JSON Lines,
// secrets by env:NAME or file:PATH), the batch index (batch.json: every
// account's status), the accounts in flight (slots.go: the data stages'
// slots, handed on as an account reaches the stages after its data) and
// their shared blob workers, the pacer that holds every account's requests to a server
// route after a 429, invite codes made with the new PDS's admin password,
// PLC tokens handed in by file, and the reports (report.json, report.csv).
package batch
