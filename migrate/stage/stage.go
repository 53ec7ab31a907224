package stage

// Stage names one step of the pipeline. The names are stable: they are
// written to the state file and shown by `atmigrate status`.
type Stage string

// The stages, in the order a migration runs them.
const (
	Login         Stage = "login"
	Preflight     Stage = "preflight"
	ExportRepo    Stage = "export-repo"
	CreateAccount Stage = "create-account"
	ImportRepo    Stage = "import-repo"
	Blobs         Stage = "blobs"
	Preferences   Stage = "preferences"
	VerifyNew     Stage = "verify-new"
	CatchUp       Stage = "catch-up"
	Identity      Stage = "identity"
	Activate      Stage = "activate"
	SignCommit    Stage = "sign-commit"
	DeactivateOld Stage = "deactivate-old"
	FinalCheck    Stage = "final-check"
	Network       Stage = "network"
)

// Stages lists every stage in pipeline order.
var All = []Stage{
	Login, Preflight, ExportRepo, CreateAccount,
	ImportRepo, Blobs, Preferences, VerifyNew,
	CatchUp, Identity, Activate, SignCommit,
	DeactivateOld, FinalCheck, Network,
}

var stageDescriptions = map[Stage]string{
	Login:         "resolve the account and log in to the old PDS (or open the backup)",
	Preflight:     "check the new PDS, the handle and the DID's PLC state",
	ExportRepo:    "download and verify the repo",
	CreateAccount: "create the account on the new PDS",
	ImportRepo:    "import the repo into the new PDS",
	Blobs:         "copy blobs",
	Preferences:   "copy preferences",
	VerifyNew:     "check that the new PDS has every record and blob",
	CatchUp:       "import writes made on the old PDS since the export",
	Identity:      "point the DID at the new PDS (PLC operation)",
	Activate:      "activate the new account",
	SignCommit:    "have the new PDS sign a commit of its own (no record changes)",
	DeactivateOld: "deactivate the old account",
	FinalCheck:    "final check",
	Network:       "ask the relays and the AppView what they see of the account",
}

// Description says in a few words what the stage does.
func (s Stage) Description() string { return stageDescriptions[s] }
