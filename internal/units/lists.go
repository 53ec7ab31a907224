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

// Count is n with its noun, plural unless n is 1: "1 account", "12 accounts".
func Count[N ~int | ~int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
