// Package plan is the pure planner: every run observes the world (the DID
// document, the account on both servers), then Decide turns how the run
// was invoked, what was observed and what the state file remembers into
// the stages still to do. It reads nothing and writes nothing, so every
// resume decision is a row of a table test; the dry run shows the same
// plan a real run acts on.
package plan
