// Package ui is the core's side of the conversation with the user: what a
// run reports (Progress) and what it asks (Prompter), as interfaces the
// CLI implements with bars and prompts and batch implements with lines.
// The core never touches a flag or a terminal; it reports and asks here.
package ui
