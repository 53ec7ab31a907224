// Package network reads what the rest of the AT Protocol network shows of
// an account after it moved: whether each relay follows it at its new PDS
// and has its latest commit, and how an AppView shows it (handle,
// deactivated, taken down). With RelayOptions.Crawl it also nudges a relay
// by asking it to crawl the new PDS (com.atproto.sync.requestCrawl).
//
// It owns those reads and their meaning for the user, nothing else: every
// check returns a view (RelayView, AppViewView, HostView) whose state,
// one-line description and warning say what the relay or AppView shows and
// what to do about it; none returns an error. What the network shows is
// never a failure of the migration: the account is moved once the PLC
// directory points at the new PDS and the new account is active, and the
// network catches up (or is nudged) afterwards. Each call is bounded by
// Options.CallTimeout and retried only briefly (pds.NetworkRetry), so an
// unreachable relay or AppView shows as "not known", never as a hang.
//
// CheckHost is the batch preflight: before moving many accounts to one
// PDS, it says whether a relay's per-host account limit would leave some
// of them throttled.
package network
