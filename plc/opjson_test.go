package plc

import (
	"encoding/json"
	"strings"
	"testing"
)

var deleteField = new(int)

// withField returns raw with field set to v (deleted if v is deleteField).
func withField(t *testing.T, raw []byte, field string, v any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if v == deleteField {
		delete(m, field)
	} else {
		m[field] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestParseOpRejects(t *testing.T) {
	f := newFixture(t)
	good, err := OpJSON(f.log[1].Operation.Regular)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseOp(good); err != nil {
		t.Fatalf("good op: %v", err)
	}
	g := string(good)
	for name, raw := range map[string]string{
		"not json":      "{",
		"tombstone":     `{"type":"plc_tombstone","prev":"x","sig":"y"}`,
		"legacy":        `{"type":"create","signingKey":"a","recoveryKey":"b","handle":"h","service":"s","prev":null}`,
		"no type":       strings.Replace(g, `"type":"plc_operation",`, "", 1),
		"unknown field": strings.Replace(g, `"type":"plc_operation",`, `"type":"plc_operation","extra":1,`, 1),
		"null services": withField(t, good, "services", nil),
		"no prev":       withField(t, good, "prev", deleteField),
	} {
		if _, err := ParseOp([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if !strings.Contains(g, `"type":"plc_operation",`) {
		t.Fatalf("fixture JSON shape changed: %s", g)
	}
}
