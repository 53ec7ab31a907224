// Package stage names the steps of a migration, in the order a run takes
// them. The names are stable: the checkpoint writes them to the state
// file, `atmigrate status` shows them, and the kill tests' crash points
// are named after them.
package stage
