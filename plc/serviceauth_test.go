package plc

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

func TestServiceAuthToken(t *testing.T) {
	k256, _ := atcrypto.GeneratePrivateKeyK256()
	p256, _ := atcrypto.GeneratePrivateKeyP256()
	for _, c := range []struct {
		key atcrypto.PrivateKey
		alg string
	}{{k256, "ES256K"}, {p256, "ES256"}} {
		tok, err := ServiceAuthToken("did:plc:abc", "did:web:new.example", "com.atproto.server.createAccount", time.Minute, c.key)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("token has %d parts", len(parts))
		}
		dec := func(s string) []byte {
			if strings.ContainsAny(s, "=+/") {
				t.Errorf("not base64url without padding: %s", s)
			}
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		var hdr map[string]string
		if err := json.Unmarshal(dec(parts[0]), &hdr); err != nil {
			t.Fatal(err)
		}
		if hdr["alg"] != c.alg || hdr["typ"] != "JWT" {
			t.Errorf("header = %v", hdr)
		}
		var claims map[string]any
		if err := json.Unmarshal(dec(parts[1]), &claims); err != nil {
			t.Fatal(err)
		}
		if claims["iss"] != "did:plc:abc" || claims["aud"] != "did:web:new.example" || claims["lxm"] != "com.atproto.server.createAccount" {
			t.Errorf("claims = %v", claims)
		}
		exp, _ := claims["exp"].(float64)
		iat, _ := claims["iat"].(float64)
		if exp-iat != 60 || claims["jti"] == "" {
			t.Errorf("exp/iat/jti = %v", claims)
		}
		sig := dec(parts[2])
		if len(sig) != 64 {
			t.Errorf("signature is %d bytes", len(sig))
		}
		pub, _ := c.key.PublicKey()
		if err := pub.HashAndVerify([]byte(parts[0]+"."+parts[1]), sig); err != nil {
			t.Errorf("signature does not verify: %v", err)
		}
		if err := pub.HashAndVerify([]byte(parts[0]+"."+parts[1]+"x"), sig); err == nil {
			t.Error("signature verifies over other content")
		}
	}
	if _, err := ServiceAuthToken("did:plc:abc", "", "x", time.Minute, k256); err == nil {
		t.Error("empty aud accepted")
	}
}
