package migrate

import (
	"testing"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
)

func TestNewEndpoint(t *testing.T) {
	m := &Migrator{env: &env{opts: Options{NewPDS: "http://127.0.0.1:9000"}}, sd: &stateDir{}}
	if got := m.newEndpoint(); got != "http://127.0.0.1:9000" {
		t.Errorf("without state: %q", got)
	}
	m.sd.st = &checkpoint.State{NewPDSEndpoint: "https://pds.example.com"}
	if got := m.newEndpoint(); got != "https://pds.example.com" {
		t.Errorf("with the recommended endpoint: %q", got)
	}
	if identity.PointsAt(nil, "https://pds.example.com") {
		t.Error("nil state points somewhere")
	}
}
