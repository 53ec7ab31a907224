package identity

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
	"github.com/atmigrate/atmigrate/plc"
)

// FuzzDIDWebDoc feeds a published did.json, whatever its bytes, to the
// parser, then writes the next document from what it accepted and parses
// that again: the next document must parse, for the same DID, and point
// at exactly the intended PDS, signing key and handle, whatever else the
// old document held.
func FuzzDIDWebDoc(f *testing.F) {
	const did = "did:web:example.com"
	const u = "https://example.com/.well-known/did.json"
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		f.Fatal(err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		f.Fatal(err)
	}
	in := plc.Intent{Endpoint: "https://new.example", SigningKey: pub.DIDKey(), Handle: "new.example.com"}
	real := `{"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/multikey/v1"],"id":"did:web:example.com",` +
		`"alsoKnownAs":["at://old.example.com","https://example.com/me"],` +
		`"verificationMethod":[{"id":"did:web:example.com#atproto","type":"Multikey","controller":"did:web:example.com","publicKeyMultibase":"` + strings.TrimPrefix(pub.DIDKey(), "did:key:") + `"},` +
		`{"id":"#other","type":"Multikey","publicKeyMultibase":"zOTHER"}],` +
		`"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://old.example"},{"id":"#labeler","type":"AtprotoLabeler","serviceEndpoint":"https://labels.example"}]}`
	for name, doc := range map[string]string{
		"real":          real,
		"minimal":       `{"id":"did:web:example.com"}`,
		"other-did":     strings.Replace(real, `"id":"did:web:example.com"`, `"id":"did:web:evil.example"`, 1),
		"truncated":     real[:len(real)/2],
		"wrong-types":   `{"id":"did:web:example.com","verificationMethod":{"a":1},"service":"x","alsoKnownAs":[1,null,{}]}`,
		"deep-nesting":  `{"id":"did:web:example.com","x":` + strings.Repeat("[", 50000),
		"null":          `null`,
		"array":         `[]`,
		"fragment-only": `{"id":"did:web:example.com","verificationMethod":[{"id":"#atproto","type":"Multikey","publicKeyMultibase":"z"}],"service":[{"id":"#atproto_pds","serviceEndpoint":{"uri":"x"}}]}`,
	} {
		fuzzcheck.Seed(f, name, []byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Alloc(t, len(data), func() {
			raw, _, err := parseWebDoc(data, did, u)
			if err != nil {
				return
			}
			next, err := json.Marshal(nextWebDoc(raw, did, in))
			if err != nil {
				t.Fatalf("the next document does not encode: %v", err)
			}
			_, st, err := parseWebDoc(next, did, u)
			if err != nil {
				t.Fatalf("the next document does not parse: %v\n%s", err, next)
			}
			if st.Endpoint() != in.Endpoint || st.SigningKey() != in.SigningKey || st.Handle() != in.Handle {
				t.Fatalf("the next document says endpoint %q, key %q, handle %q\n%s", st.Endpoint(), st.SigningKey(), st.Handle(), next)
			}
		})
	})
}
