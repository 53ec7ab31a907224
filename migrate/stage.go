package migrate

// Stage names one step of the pipeline. The names are stable: they are
// written to the state file and shown by `atmigrate status`.
type Stage string

// The stages, in the order a migration runs them.
const (
	StageLogin         Stage = "login"
	StagePreflight     Stage = "preflight"
	StageExportRepo    Stage = "export-repo"
	StageCreateAccount Stage = "create-account"
	StageImportRepo    Stage = "import-repo"
	StageBlobs         Stage = "blobs"
	StagePreferences   Stage = "preferences"
	StageVerifyNew     Stage = "verify-new"
	StageCatchUp       Stage = "catch-up"
	StageIdentity      Stage = "identity"
	StageActivate      Stage = "activate"
	StageDeactivateOld Stage = "deactivate-old"
	StageFinalCheck    Stage = "final-check"
)

// Stages lists every stage in pipeline order.
var Stages = []Stage{
	StageLogin, StagePreflight, StageExportRepo, StageCreateAccount,
	StageImportRepo, StageBlobs, StagePreferences, StageVerifyNew,
	StageCatchUp, StageIdentity, StageActivate, StageDeactivateOld,
	StageFinalCheck,
}

var stageDescriptions = map[Stage]string{
	StageLogin:         "resolve the account and log in to the old PDS (or open the backup)",
	StagePreflight:     "check the new PDS, the handle and the DID's PLC state",
	StageExportRepo:    "download and verify the repo",
	StageCreateAccount: "create the account on the new PDS",
	StageImportRepo:    "import the repo into the new PDS",
	StageBlobs:         "copy blobs",
	StagePreferences:   "copy preferences",
	StageVerifyNew:     "check that the new PDS has every record and blob",
	StageCatchUp:       "import writes made on the old PDS since the export",
	StageIdentity:      "point the DID at the new PDS (PLC operation)",
	StageActivate:      "activate the new account",
	StageDeactivateOld: "deactivate the old account",
	StageFinalCheck:    "final check",
}

// Description says in a few words what the stage does.
func (s Stage) Description() string { return stageDescriptions[s] }

// Irreversible reports whether the stage changes something that cannot be
// undone by re-running the migration: the DID document and the old
// account's status.
func (s Stage) Irreversible() bool {
	return s == StageIdentity || s == StageDeactivateOld
}
