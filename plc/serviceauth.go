package plc

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// ServiceAuthToken signs a service-auth JWT locally, for when the old PDS
// (which normally issues it through getServiceAuth) is gone. iss is the
// user's DID, aud the target service's DID, lxm the XRPC method it may call
// (e.g. com.atproto.server.createAccount); key must be the DID's current
// atproto signing key.
//
// The token is hand-built rather than taken from indigo's atproto/auth,
// whose import changes golang-jwt globals for the whole program. Its shape
// is what the PDS was measured to accept: header {"alg","typ"}, payload
// iss, aud (a plain string), exp, iat, lxm, jti, and a 64-byte low-S r||s
// signature, all base64url without padding.
func ServiceAuthToken(iss, aud, lxm string, ttl time.Duration, key atcrypto.PrivateKey) (string, error) {
	if iss == "" || aud == "" || lxm == "" {
		return "", errors.New("service auth token: iss, aud and lxm are required")
	}
	if ttl <= 0 {
		return "", errors.New("service auth token: ttl must be positive")
	}
	var alg string
	switch key.(type) {
	case *atcrypto.PrivateKeyK256:
		alg = "ES256K"
	case *atcrypto.PrivateKeyP256:
		alg = "ES256"
	default:
		return "", fmt.Errorf("service auth token: unsupported key type %T", key)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("service auth token: %w", err)
	}
	now := time.Now()
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}{alg, "JWT"})
	if err != nil {
		return "", fmt.Errorf("service auth token: %w", err)
	}
	payload, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Iat int64  `json:"iat"`
		Lxm string `json:"lxm"`
		Jti string `json:"jti"`
	}{iss, aud, now.Add(ttl).Unix(), now.Unix(), lxm, hex.EncodeToString(nonce[:])})
	if err != nil {
		return "", fmt.Errorf("service auth token: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig, err := key.HashAndSign([]byte(signing))
	if err != nil {
		return "", fmt.Errorf("service auth token: sign: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
