package failure

import "strings"

// Choice is something the user can change to get past a stop: a value
// they give or a decision they make. The core names choices, never the
// flags that make them: its words write a choice as {name} (for example
// "pass {old-password}"), and whoever shows them to the user says how the
// choice is made there (the CLI a flag, a batch an accounts-file column),
// with Words. So a renamed flag is a change to the CLI alone.
type Choice string

// The choices the core's words name.
const (
	ChoiceAccount         Choice = "account"
	ChoiceOldPassword     Choice = "old-password"
	ChoiceOldPDS          Choice = "old-pds"
	ChoiceAuthFactorToken Choice = "auth-factor-token"
	// ChoiceNewAuthFactorToken is verify's sign-in code for the new PDS.
	ChoiceNewAuthFactorToken Choice = "new-auth-factor-token"
	// ChoiceRecoverTo is plc recover's operation to go back to.
	ChoiceRecoverTo          Choice = "to"
	ChoiceNewPDS             Choice = "new-pds"
	ChoiceNewHandle          Choice = "new-handle"
	ChoiceNewEmail           Choice = "new-email"
	ChoiceNewPassword        Choice = "new-password"
	ChoiceInviteCode         Choice = "invite-code"
	ChoicePLCToken           Choice = "plc-token"
	ChoicePLCURL             Choice = "plc-url"
	ChoiceRotationKey        Choice = "rotation-key"
	ChoiceStateDir           Choice = "state-dir"
	ChoiceYes                Choice = "yes"
	ChoiceNoDeactivateOld    Choice = "no-deactivate-old"
	ChoiceSkipOversizedBlobs Choice = "skip-oversized-blobs"
	ChoiceBlobConcurrency    Choice = "blob-concurrency"
	ChoiceDiskBudget         Choice = "disk-budget"
	ChoiceKeepData           Choice = "keep-data"
	ChoiceFromBackup         Choice = "from-backup"
	ChoiceRateLimitBypassKey Choice = "ratelimit-bypass-key"
	ChoiceOut                Choice = "out"
	// ChoiceStallTimeout is how long a server may send nothing.
	ChoiceStallTimeout Choice = "stall-timeout"
	// After the move: who is asked what the network sees.
	ChoiceRelay     Choice = "relay"
	ChoiceRelayWait Choice = "relay-wait"
	ChoiceAppView   Choice = "appview"
	// A batch's own.
	ChoiceAccounts         Choice = "accounts"
	ChoiceTokens           Choice = "tokens"
	ChoiceRetryFailed      Choice = "retry-failed"
	ChoiceBatchRotationKey Choice = "plc-rotation-key"
	ChoiceAdminPassword    Choice = "new-pds-admin-password"
)

// Choices lists every choice, for the tests that hold the CLI to saying
// each one.
var Choices = []Choice{
	ChoiceAccount, ChoiceOldPassword, ChoiceOldPDS, ChoiceAuthFactorToken, ChoiceNewAuthFactorToken, ChoiceRecoverTo, ChoiceNewPDS, ChoiceNewHandle,
	ChoiceNewEmail, ChoiceNewPassword, ChoiceInviteCode, ChoicePLCToken, ChoicePLCURL, ChoiceRotationKey,
	ChoiceStateDir, ChoiceYes, ChoiceNoDeactivateOld, ChoiceSkipOversizedBlobs, ChoiceBlobConcurrency,
	ChoiceDiskBudget, ChoiceKeepData, ChoiceFromBackup, ChoiceRateLimitBypassKey, ChoiceOut, ChoiceStallTimeout,
	ChoiceRelay, ChoiceRelayWait, ChoiceAppView,
	ChoiceAccounts, ChoiceTokens, ChoiceRetryFailed, ChoiceBatchRotationKey, ChoiceAdminPassword,
}

// Words is s with every {choice} said the way how says it; braces around
// anything that is not a choice (a server's JSON in an error, say) stay as
// they are.
func Words(s string, how func(Choice) string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		name := Choice(s[i+1 : i+j])
		if !known(name) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(how(name))
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

func known(c Choice) bool {
	for _, k := range Choices {
		if k == c {
			return true
		}
	}
	return false
}

// Ref is c as the core's words write it: {name}.
func (c Choice) Ref() string { return "{" + string(c) + "}" }
