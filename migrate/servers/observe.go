package servers

import "github.com/atmigrate/atmigrate/internal/pds"

// Observed is s with obs told about every HTTP exchange of the clients it
// makes from then on: PDS, PLC directory, relays and AppView, did:web
// documents (see pds.Observer; nil observes nothing). The run's HTTP
// client and each client's own timeouts are kept.
func (s Clients) Observed(obs pds.Observer) Clients {
	s.obs = obs
	return s
}
