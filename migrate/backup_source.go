package migrate

import (
	"context"
	"errors"
)

// errNoBackupYet: restoring from a backup directory is not built yet.
var errNoBackupYet = errors.New("migrating from a backup is not supported yet")

func (m *Migrator) openBackupSource(ctx context.Context) (string, error) {
	return "", inputErr(errNoBackupYet, "migrate from the live PDS instead", "--from-backup")
}

func (m *Migrator) localServiceAuth() (string, error) {
	return "", errNoBackupYet
}
