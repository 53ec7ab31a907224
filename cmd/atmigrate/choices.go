package main

import (
	"github.com/atmigrate/atmigrate/migrate/failure"
)

// choiceWords is how each choice the core names is made on the command
// line. The core writes {choice} in its words, never a flag: this table is
// the one place that knows the flags' names (TestEveryChoiceHasWords).
// A secret's environment variable comes first: a flag's value shows in
// the process list, and a hint should not lead there.
var choiceWords = map[failure.Choice]string{
	failure.ChoiceAccount:            "--account",
	failure.ChoiceOldPassword:        "ATMIGRATE_OLD_PASSWORD (or --old-password)",
	failure.ChoiceOldPDS:             "--old-pds",
	failure.ChoiceAuthFactorToken:    "--auth-factor-token",
	failure.ChoiceNewAuthFactorToken: "--new-auth-factor-token",
	failure.ChoiceRecoverTo:          "--to",
	failure.ChoiceNewPDS:             "--new-pds",
	failure.ChoiceNewHandle:          "--new-handle",
	failure.ChoiceNewEmail:           "--new-email",
	failure.ChoiceNewPassword:        "ATMIGRATE_NEW_PASSWORD (or --new-password)",
	failure.ChoiceInviteCode:         "--invite-code",
	failure.ChoicePLCToken:           "--plc-token",
	failure.ChoicePLCURL:             "--plc-url",
	failure.ChoiceRotationKey:        "--rotation-key",
	failure.ChoiceStateDir:           "--state-dir",
	failure.ChoiceYes:                "--yes",
	failure.ChoiceNoDeactivateOld:    "--no-deactivate-old",
	failure.ChoiceSkipOversizedBlobs: "--skip-oversized-blobs",
	failure.ChoiceBlobConcurrency:    "--blob-concurrency",
	failure.ChoiceDiskBudget:         "--disk-budget",
	failure.ChoiceKeepData:           "--keep-data",
	failure.ChoiceFromBackup:         "--from-backup",
	failure.ChoiceRateLimitBypassKey: "ATMIGRATE_RATELIMIT_BYPASS_KEY (or --ratelimit-bypass-key)",
	failure.ChoiceOut:                "--out",
	failure.ChoiceStallTimeout:       "--stall-timeout (or ATMIGRATE_STALL_TIMEOUT)",
	failure.ChoiceRelay:              "--relay",
	failure.ChoiceRelayWait:          "--relay-wait",
	failure.ChoiceAppView:            "--appview",
	failure.ChoiceAccounts:           "--accounts",
	failure.ChoiceTokens:             "--tokens",
	failure.ChoiceRetryFailed:        "--retry-failed",
	failure.ChoiceBatchRotationKey:   "--plc-rotation-key",
	failure.ChoiceAdminPassword:      "ATMIGRATE_NEW_PDS_ADMIN_PASSWORD (or --new-pds-admin-password)",
}

// say is the core's words s with each choice said as its flag.
func say(s string) string {
	return failure.Words(s, func(c failure.Choice) string { return choiceWords[c] })
}
