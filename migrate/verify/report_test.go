package verify

import (
	"encoding/json"
	"strings"
	"testing"
)

// A warning is a state of its own: it never fails the report, it is not
// counted as passed, and it is listed apart from the failures.
func TestReportStates(t *testing.T) {
	r := &Report{}
	r.add("a", true, "fine")
	r.add("b", true, "fine too")
	r.warn("c", "what it means", "%d extra", 2)
	r.skip("d", "needs a password")
	if !r.OK() {
		t.Errorf("a warning failed the report: %+v", r.Checks)
	}
	if got, want := r.Summary(), "2 checks passed, 1 warning, 1 skipped"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if p := r.Problems(); p != "" {
		t.Errorf("Problems() lists a warning: %q", p)
	}
	w := r.Warnings()
	if len(w) != 1 || w[0].Name != "c" || w[0].Message() != "c: 2 extra; what it means" {
		t.Errorf("Warnings() = %+v", w)
	}
	b, err := json.Marshal(r.Checks[2])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"name":"c","ok":true,"warn":true,"detail":"2 extra","hint":"what it means"}`; got != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	if b, _ := json.Marshal(r.Checks[0]); strings.Contains(string(b), "warn") {
		t.Errorf("a passed check's JSON mentions a warning: %s", b)
	}

	r.warn("e", "", "another")
	r.add("f", false, "broken")
	if r.OK() {
		t.Error("a failed check did not fail the report")
	}
	if got, want := r.Summary(), "2 checks passed, 2 warnings, 1 skipped"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if p := r.Problems(); p != "f: broken" {
		t.Errorf("Problems() = %q", p)
	}
}
