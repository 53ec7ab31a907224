package servers

import "strings"

// NormalURL is a server URL as the tool keeps it: without a trailing
// slash, so that "https://pds.example/" and "https://pds.example" are one.
func NormalURL(u string) string { return strings.TrimRight(u, "/") }

// SameURL compares two server URLs as typed, ignoring a trailing slash and
// the case of the scheme and host.
func SameURL(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return strings.EqualFold(NormalURL(a), NormalURL(b))
}
