package migrate

import (
	"testing"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
)

func TestNewEndpoint(t *testing.T) {
	if got := newEndpoint(nil, "http://127.0.0.1:9000"); got != "http://127.0.0.1:9000" {
		t.Errorf("without state: %q", got)
	}
	st := &checkpoint.State{NewPDSEndpoint: "https://pds.example.com"}
	if got := newEndpoint(st, "http://127.0.0.1:9000"); got != "https://pds.example.com" {
		t.Errorf("with the recommended endpoint: %q", got)
	}
	if identity.PointsAt(nil, "https://pds.example.com") {
		t.Error("nil state points somewhere")
	}
}
