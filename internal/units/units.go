// Package units formats figures and lists for people: byte counts in the
// decimal units all of the tool's figures use, and lists cut short for a
// message.
package units

import "fmt"

// HumanBytes is a byte count for people: 6.3 MB, 420.0 kB, 12 B (decimal
// units, as the rest of the tool's figures).
func HumanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// MB is n bytes in megabytes (decimal), for messages that print "%.1f MB".
func MB(n int64) float64 { return float64(n) / 1e6 }
