package timeline

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand"
	"os"
	"strings"
	"testing"
)

// sample is a small move: stages, requests to three servers (two of them
// at once), a failure, and a CPU lane.
func sample() *Timeline {
	tl := &Timeline{Title: "atmigrate test migrate: done", Duration: 10,
		Parties: Roles{Versions: map[string]string{RoleNewPDS: "@atproto/pds 0.4.217"}}.Parties()}
	tl.Stages = []Span{
		{Name: "login", Start: 0, End: 1, State: "done"},
		{Name: "export-repo", Start: 0.5, End: 3, State: "done"},
		{Name: "blobs", Start: 3, End: 8, State: "done"},
		{Name: "catch-up", Start: 8, End: 8, State: "skipped"},
		{Name: "identity", Start: 8, End: 10, State: "unfinished"},
	}
	tl.Reqs = []Request{
		{Role: RoleOldPDS, Call: "com.atproto.server.createSession", Start: 0.1, End: 0.3, Status: 200},
		{Role: RoleOldPDS, Call: "com.atproto.sync.getRepo", Start: 0.5, End: 2.9, Status: 200},
		{Role: RoleNewPDS, Call: "com.atproto.repo.uploadBlob", Start: 3, End: 5, Status: 200},
		{Role: RoleNewPDS, Call: "com.atproto.repo.uploadBlob", Start: 3.5, End: 6, Status: 200},
		{Role: RoleNewPDS, Call: "com.atproto.repo.uploadBlob", Start: 6, End: 6.5, Status: 500},
		{Role: RolePLC, Call: "/{did}/log/audit", Start: 8.2, End: 8.3, Status: 200},
	}
	tl.CPU = []CPULane{{Name: "atmigrate CPU", Samples: []CPUSample{{1, 0.5}, {2, 1.5}, {5, 0.1}, {10, 0.2}}}}
	return tl
}

// parse checks that svg is well-formed XML and returns the text of its
// text elements and the count of each element.
func parse(t *testing.T, svg []byte) (texts []string, elems map[string]int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	elems = map[string]int{}
	var stack []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && (v.Name.Local != "svg" || v.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element %v", v.Name)
			}
			elems[v.Name.Local]++
			stack = append(stack, v.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if n := len(stack); n > 0 && (stack[n-1] == "text" || stack[n-1] == "tspan") {
				texts = append(texts, string(v))
			}
		}
	}
	return texts, elems
}

func TestWriteSVGLanesAndStages(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSVG(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	texts, elems := parse(t, buf.Bytes())
	all := strings.Join(texts, "\n")
	for _, want := range []string{"atmigrate test migrate: done", "stages", "old PDS", "new PDS", "PLC directory", "atmigrate CPU",
		"@atproto/pds 0.4.217", "3 requests, ≤2 at once", "login", "export-repo", "blobs", "identity", "0 s", "10 s"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in\n%s", want, all)
		}
	}
	if strings.Contains(all, "relay") || strings.Contains(all, "AppView\n") {
		t.Error("a lane without requests is drawn")
	}
	if !strings.Contains(buf.String(), errorColor) {
		t.Error("the failed upload is not marked")
	}
	if elems["path"] != 1 || elems["rect"] < 10 {
		t.Errorf("elements %v", elems)
	}
	if os.Getenv("TIMELINE_SVG_OUT") != "" {
		os.WriteFile(os.Getenv("TIMELINE_SVG_OUT"), buf.Bytes(), 0o644)
	}
}

func TestWriteSVGTwoRunsOneScale(t *testing.T) {
	a, f := sample(), sample()
	a.Title, f.Title, f.Duration = "atmigrate", "floor", 5
	var buf bytes.Buffer
	if err := WriteSVG(&buf, a, f); err != nil {
		t.Fatal(err)
	}
	texts, _ := parse(t, buf.Bytes())
	all := strings.Join(texts, "\n")
	if strings.Count(all, "stages") != 2 || strings.Count(all, "\n10 s") != 2 {
		t.Errorf("two blocks on a 10 s scale expected:\n%s", all)
	}
}

func TestWriteSVGBoundedSize(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tl := sample()
	tl.Duration = 600
	tl.Reqs = nil
	roles := []string{RoleOldPDS, RoleNewPDS, RolePLC, "relay"}
	for i := 0; i < 10000; i++ {
		s := rng.Float64() * 599
		q := Request{Role: roles[i%len(roles)], Call: fmt.Sprintf("com.atproto.call%d", i%7), Start: s, End: s + rng.Float64(), Status: 200}
		if i%97 == 0 {
			q.Status = 502
		}
		tl.Reqs = append(tl.Reqs, q)
	}
	for i := 0; i < 6000; i++ {
		tl.CPU[0].Samples = append(tl.CPU[0].Samples, CPUSample{At: float64(i) * 0.1, Cores: rng.Float64() * 2})
	}
	var buf bytes.Buffer
	if err := WriteSVG(&buf, tl); err != nil {
		t.Fatal(err)
	}
	parse(t, buf.Bytes())
	if buf.Len() > 200_000 {
		t.Errorf("10,000 requests make %d bytes, want under 200 kB", buf.Len())
	}
	t.Logf("10,000 requests, 6,000 CPU samples: %d bytes", buf.Len())
}

func TestWriteSVGEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSVG(&buf, &Timeline{Title: "nothing <yet> & more"}); err != nil {
		t.Fatal(err)
	}
	texts, _ := parse(t, buf.Bytes())
	if texts[0] != "nothing <yet> & more" {
		t.Errorf("title %q", texts[0])
	}
}

func TestNiceStep(t *testing.T) {
	for in, want := range map[float64]float64{0.7: 1, 1.2: 2, 3: 5, 7: 10, 13: 20, 0.03: 0.05} {
		if got := niceStep(in); got < want*0.999 || got > want*1.001 {
			t.Errorf("niceStep(%v) = %v, want %v", in, got, want)
		}
	}
}
