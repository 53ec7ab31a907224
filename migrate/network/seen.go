package network

// Seen is what the network showed of the account at the end of a run.
type Seen struct {
	Relays  []RelayView  `json:"relays,omitempty"`
	AppView *AppViewView `json:"appview,omitempty"`
}
