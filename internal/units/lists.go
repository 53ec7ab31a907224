package units

import "fmt"

// FirstN is s cut to its first n items, with a last one saying how many
// more there were, for a message that must stay readable.
func FirstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}
