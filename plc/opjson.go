package plc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// ParseOp parses an operation as JSON (what signPlcOperation returns and
// submitPlcOperation takes). It must be a plc_operation with every document
// field present; unknown fields are refused, because an operation we cannot
// represent exactly is not the one Check verified.
func ParseOp(raw []byte) (*didplc.RegularOp, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("parse plc operation: %w", err)
	}
	var typ string
	if t, ok := fields["type"]; !ok || json.Unmarshal(t, &typ) != nil || typ != "plc_operation" {
		return nil, fmt.Errorf("parse plc operation: type is %s, want \"plc_operation\"", fields["type"])
	}
	for _, f := range []string{"rotationKeys", "verificationMethods", "alsoKnownAs", "services", "prev"} {
		if _, ok := fields[f]; !ok {
			return nil, fmt.Errorf("parse plc operation: missing field %q", f)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var op didplc.RegularOp
	if err := dec.Decode(&op); err != nil {
		return nil, fmt.Errorf("parse plc operation: %w", err)
	}
	if op.RotationKeys == nil || op.VerificationMethods == nil || op.AlsoKnownAs == nil || op.Services == nil {
		return nil, errors.New("parse plc operation: a document field is null")
	}
	return &op, nil
}

// OpJSON encodes op as the JSON the PLC and submitPlcOperation take.
func OpJSON(op *didplc.RegularOp) (json.RawMessage, error) {
	b, err := json.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("encode plc operation: %w", err)
	}
	return b, nil
}

// OpCID returns the CID of the signed operation: what the audit log will
// list it under, and what the next operation names as prev.
func OpCID(op *didplc.RegularOp) string {
	return op.CID().String()
}

// Sign signs op in place with key (which must be one of the current rotation
// keys for the PLC to accept it).
func Sign(op *didplc.RegularOp, key atcrypto.PrivateKey) error {
	if op.Type != "plc_operation" {
		// didplc.NewAtproto leaves Type empty; the PLC refuses such ops.
		return fmt.Errorf("sign plc operation: type is %q, want \"plc_operation\"", op.Type)
	}
	if err := op.Sign(key); err != nil {
		return fmt.Errorf("sign plc operation: %w", err)
	}
	return nil
}
