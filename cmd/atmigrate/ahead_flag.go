package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
)

// downloadAheadFlag is --download-ahead: when the blobs start downloading
// ahead of the uploads (migrate.Options.DownloadAhead).
var downloadAheadFlag = &cli.StringFlag{
	Name: "download-ahead",
	Usage: "when blobs start downloading ahead of the uploads: import (while the new PDS imports) " +
		"or uploads (with them, leaving the import a new PDS on this machine's disk to itself)",
	Value:   migrate.AheadImport,
	EnvVars: []string{"ATMIGRATE_DOWNLOAD_AHEAD"},
}

// downloadAheadProblem says what is wrong with a --download-ahead value
// ("" when nothing is); the commands report it as a usage error.
func downloadAheadProblem(mode string) string {
	if mode == "" || slices.Contains(migrate.AheadModes, mode) {
		return ""
	}
	return fmt.Sprintf("--download-ahead %q is not one of %s", mode, strings.Join(migrate.AheadModes, ", "))
}
