package plc

import (
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// FuzzParseOp: an operation from a server or a state file, whatever its
// bytes, is parsed or refused, never a panic; what parses writes back to
// JSON that parses again.
func FuzzParseOp(f *testing.F) {
	f.Add([]byte(`{"type":"plc_operation","rotationKeys":["did:key:zQ3shX"],"verificationMethods":{},"alsoKnownAs":[],"services":{},"prev":null,"sig":"x"}`))
	f.Add([]byte(`{"type":"plc_tombstone"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"type":"plc_operation","services":{"atproto_pds":{"type":"AtprotoPersonalDataServer","endpoint":"https://pds.example"}}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzcheck.Alloc(t, len(raw), func() {
			op, err := ParseOp(raw)
			if err != nil {
				return
			}
			out, err := OpJSON(op)
			if err != nil {
				t.Fatalf("parsed but does not encode: %v", err)
			}
			if _, err := ParseOp(out); err != nil {
				t.Fatalf("its own JSON does not parse again: %v\n%s", err, out)
			}
		})
	})
}

// FuzzParsePrivateKey: a key file's text is parsed or refused.
func FuzzParsePrivateKey(f *testing.F) {
	for _, s := range []string{"z3vLgkqRyHG1HuHRQTtHCQsnjgWEQA3T3LF5Kx6T9yGqMEDP", "00ff", "", "did:key:zQ3sh", "0x1234"} {
		f.Add(s, "secp256k1")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, text, typ string) {
		fuzzcheck.Alloc(t, len(text)+len(typ), func() { _, _ = ParsePrivateKey(text, typ) })
	})
}
