package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/bench/memstat"
)

func TestMemCurvePoints(t *testing.T) {
	run := func(kb int64) MemRun { return MemRun{Measurement: memstat.Measurement{PeakRSSKB: kb}} }
	cells := []*MemCell{
		{Records: 10000, Setting: "shipped", Runs: []MemRun{run(20 << 10), run(22 << 10), run(21 << 10)}},
		{Records: 1000, Setting: "shipped", Runs: []MemRun{run(17 << 10)}},
		{Records: 1000, Setting: "none", Runs: []MemRun{run(99 << 10)}},
	}
	got := memCurvePoints(cells, "shipped")
	want := []curvePoint{{1000, 17, 17, 17}, {10000, 21, 20, 22}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("points = %+v, want %+v", got, want)
	}
}

// TestWriteMemCurve parses the SVG as XML and checks that each point and
// the limit line stand where the axes put them: equal steps per decade,
// higher MB higher up.
func TestWriteMemCurve(t *testing.T) {
	pts := []curvePoint{
		{Records: 1000, Median: 17, Low: 16.5, High: 17.5},
		{Records: 10000, Median: 20, Low: 19, High: 21},
		{Records: 100000, Median: 30, Low: 29, High: 33},
		{Records: 1000000, Median: 110, Low: 105, High: 140},
	}
	var buf bytes.Buffer
	if err := writeMemCurve(&buf, "peak RSS <verify> & more", pts, memLimitMB); err != nil {
		t.Fatal(err)
	}
	a := newCurveAxes(pts, memLimitMB)
	if a.minDecade != 3 || a.maxDecade != 6 || a.maxMB < 140 {
		t.Fatalf("axes %+v", a)
	}
	var circles [][2]float64
	limitY := math.NaN()
	var texts []string
	dec := xml.NewDecoder(&buf)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not valid XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, at := range el.Attr {
				attr[at.Name.Local] = at.Value
			}
			num := func(k string) float64 {
				f, err := strconv.ParseFloat(attr[k], 64)
				if err != nil {
					t.Fatalf("<%s %s=%q>: %v", el.Name.Local, k, attr[k], err)
				}
				return f
			}
			switch {
			case el.Name.Local == "circle":
				circles = append(circles, [2]float64{num("cx"), num("cy")})
			case el.Name.Local == "line" && attr["class"] == "limit":
				limitY = num("y1")
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if len(circles) != len(pts) {
		t.Fatalf("%d circles, want %d", len(circles), len(pts))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 0.06 }
	for i, p := range pts {
		if !near(circles[i][0], a.x(p.Records)) || !near(circles[i][1], a.y(p.Median)) {
			t.Errorf("point %d at %v, want (%.1f, %.1f)", i, circles[i], a.x(p.Records), a.y(p.Median))
		}
	}
	step := circles[1][0] - circles[0][0]
	if step <= 0 || math.Abs(circles[2][0]-circles[1][0]-step) > 0.15 || math.Abs(circles[3][0]-circles[2][0]-step) > 0.15 {
		t.Errorf("x of 1k, 10k, 100k, 1M not equally spaced: %v", circles)
	}
	if !(circles[3][1] < circles[2][1] && circles[2][1] < circles[0][1]) {
		t.Errorf("more MB is not higher up: %v", circles)
	}
	// 128 MB is above the 1M median (110) and below its top (140).
	if !near(limitY, a.y(memLimitMB)) || !(limitY < circles[3][1] && limitY > a.y(140)) {
		t.Errorf("limit line at y %.1f, want %.1f, above the 1M point", limitY, a.y(memLimitMB))
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"peak RSS <verify> & more", "|1k|", "|1M|", "128 MB"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in %q", want, all)
		}
	}
}
