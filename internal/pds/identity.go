package pds

import (
	"context"
	"encoding/json"
	"fmt"
)

// Service is a DID document service entry as PLC operations carry it.
type Service struct {
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
}

// Credentials are the PLC fields a PDS recommends for an account it hosts
// (com.atproto.identity.getRecommendedDidCredentials), and the fields
// signPlcOperation puts into the operation.
type Credentials struct {
	RotationKeys        []string           `json:"rotationKeys"`
	AlsoKnownAs         []string           `json:"alsoKnownAs"`
	VerificationMethods map[string]string  `json:"verificationMethods"`
	Services            map[string]Service `json:"services"`
}

// GetRecommendedDidCredentials returns what the PLC document should say
// for the session account to be hosted on this PDS.
func (c *Client) GetRecommendedDidCredentials(ctx context.Context) (*Credentials, error) {
	var out Credentials
	if err := c.query(ctx, "com.atproto.identity.getRecommendedDidCredentials", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RequestPlcOperationSignature makes the PDS email a signing token to the
// account. Not idempotent: a second request replaces the first token, so
// a lost response is not resent.
func (c *Client) RequestPlcOperationSignature(ctx context.Context) error {
	return c.procedure(ctx, "com.atproto.identity.requestPlcOperationSignature", nil, nil, true)
}

// SignPlcOperation has the PDS sign a PLC operation with its rotation key,
// authorised by the emailed token; fields of cred that are empty (or a nil
// cred) keep their current values. It returns the signed operation as raw
// JSON, ready for SubmitPlcOperation.
func (c *Client) SignPlcOperation(ctx context.Context, token string, cred *Credentials) (json.RawMessage, error) {
	const nsid = "com.atproto.identity.signPlcOperation"
	in := struct {
		Token               string             `json:"token,omitempty"`
		RotationKeys        []string           `json:"rotationKeys,omitempty"`
		AlsoKnownAs         []string           `json:"alsoKnownAs,omitempty"`
		VerificationMethods map[string]string  `json:"verificationMethods,omitempty"`
		Services            map[string]Service `json:"services,omitempty"`
	}{Token: token}
	if cred != nil {
		in.RotationKeys, in.AlsoKnownAs = cred.RotationKeys, cred.AlsoKnownAs
		in.VerificationMethods, in.Services = cred.VerificationMethods, cred.Services
	}
	r, err := jsonRequest(nsid, in)
	if err != nil {
		return nil, err
	}
	r.secrets = []string{token}
	var out struct {
		Operation json.RawMessage `json:"operation"`
	}
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return nil, err
	}
	if len(out.Operation) == 0 || string(out.Operation) == "null" {
		return nil, fmt.Errorf("%s at %s: no operation in response", nsid, c.host)
	}
	return out.Operation, nil
}

// SubmitPlcOperation has the PDS submit op to the PLC directory. Not
// idempotent: a lost response is not resent; the caller re-reads the PLC
// log to find out whether it landed.
func (c *Client) SubmitPlcOperation(ctx context.Context, op json.RawMessage) error {
	in := struct {
		Operation json.RawMessage `json:"operation"`
	}{op}
	return c.procedure(ctx, "com.atproto.identity.submitPlcOperation", in, nil, true)
}
