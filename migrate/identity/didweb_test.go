package identity

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/plc"
)

func TestDIDWebURL(t *testing.T) {
	for did, want := range map[string]string{
		"did:web:example.com":        "https://example.com/.well-known/did.json",
		"did:web:localhost%3A8080":   "http://localhost:8080/.well-known/did.json",
		"did:web:localhost%3a8080":   "http://localhost:8080/.well-known/did.json",
		"did:web:example.com:user:1": "",
	} {
		got, err := webURL(did)
		if want == "" {
			if err == nil {
				t.Errorf("%s: want an error for a path did:web", did)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", did, got, err, want)
		}
	}
}

func TestNextDIDWebDocKeepsTheRest(t *testing.T) {
	did := "did:web:example.com"
	var raw map[string]any
	json.Unmarshal([]byte(`{
		"@context": ["https://www.w3.org/ns/did/v1"],
		"id": "did:web:example.com",
		"alsoKnownAs": ["at://old.example.com", "https://example.com/me"],
		"verificationMethod": [
			{"id": "did:web:example.com#atproto", "type": "Multikey", "publicKeyMultibase": "zOLD"},
			{"id": "#other", "type": "Multikey", "publicKeyMultibase": "zOTHER"}],
		"service": [
			{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://old.example"},
			{"id": "#labeler", "type": "AtprotoLabeler", "serviceEndpoint": "https://labels.example"}]
	}`), &raw)
	doc := nextWebDoc(raw, did, plc.Intent{Endpoint: "https://new.example", SigningKey: "did:key:zNEW", Handle: "new.example.com"})
	b, _ := json.Marshal(doc)
	s := string(b)
	for _, want := range []string{`"zNEW"`, `"https://new.example"`, `"zOTHER"`, `"https://labels.example"`, `"at://new.example.com"`, `"https://example.com/me"`, `"@context"`} {
		if !strings.Contains(s, want) {
			t.Errorf("next document lacks %s: %s", want, s)
		}
	}
	for _, gone := range []string{`"zOLD"`, `"https://old.example"`, `"at://old.example.com"`} {
		if strings.Contains(s, gone) {
			t.Errorf("next document still has %s: %s", gone, s)
		}
	}
}
