// Package servers makes every client the core talks through, so that a
// migration, a dry run, an export, a check and the CLI's own calls reach
// the servers the same way: one user agent, one HTTP client, one retry
// policy with its reporting, one request counter. It also owns what a
// server's address is: the PLC directory's default and the one way URLs
// are compared.
package servers
