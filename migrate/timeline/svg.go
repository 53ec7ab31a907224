package timeline

import (
	"bufio"
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The picture's geometry, in pixels.
const (
	svgWidth  = 1000
	labelW    = 170 // the lane names
	plotW     = 800
	plotX     = labelW
	laneH     = 34
	laneGap   = 4
	stageRowH = 16
	buckets   = 400 // time slots per lane: bounds the file whatever the request count
)

// palette colours the stages, by their place in stage.All (other names
// follow); errorColor marks failed requests.
var palette = []string{"#4e79a7", "#f28e2b", "#a0cbe8", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
	"#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#fabfd2", "#b6992d", "#499894", "#8cd17d"}

const (
	errorColor = "#d62728"
	idleColor  = "#9aa0a6"
	cpuColor   = "#555c66"
)

// WriteSVG draws the timelines one above the other on one time scale
// (the longest one's): for each, its stages, one lane per party with the
// requests in flight over time, and its CPU lanes; then a legend. The
// size of the file does not grow with the number of requests.
func WriteSVG(w io.Writer, tls ...*Timeline) error {
	d := newDrawing(tls)
	bw := bufio.NewWriter(w)
	var body strings.Builder
	y := 10.0
	for _, tl := range tls {
		y = d.block(&body, tl, y) + 18
	}
	y = d.legend(&body, y)
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">
<rect width="100%%" height="100%%" fill="#ffffff"/>
`, svgWidth, int(y)+10, svgWidth, int(y)+10)
	bw.WriteString(body.String())
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

// drawing is what all timelines of one picture share: the time scale, the
// stage colours and the height scales.
type drawing struct {
	span     float64 // seconds across the plot
	colors   map[string]string
	order    []string // stages in colour order, for the legend
	peakReqs float64  // most requests in flight in one slot, all lanes
	peakCPU  float64  // most cores busy in one slot, all CPU lanes
}

func newDrawing(tls []*Timeline) *drawing {
	d := &drawing{span: 1e-3, colors: map[string]string{}, peakReqs: 1, peakCPU: 1}
	for _, tl := range tls {
		d.span = max(d.span, tl.Duration)
	}
	seen := map[string]bool{}
	for _, tl := range tls {
		for _, s := range tl.Stages {
			seen[s.Name] = true
		}
	}
	for _, s := range stage.All {
		if seen[string(s)] {
			d.order = append(d.order, string(s))
		}
	}
	var rest []string
	for n := range seen {
		if !slices.Contains(d.order, n) {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	d.order = append(d.order, rest...)
	for _, n := range d.order {
		i := slices.Index(stage.All, stage.Stage(n))
		if i < 0 {
			i = len(stage.All) + slices.Index(rest, n)
		}
		d.colors[n] = palette[i%len(palette)]
	}
	for _, tl := range tls {
		for _, l := range d.lanes(tl) {
			for _, v := range d.inFlight(l.reqs).avg {
				d.peakReqs = max(d.peakReqs, v)
			}
		}
		for _, c := range tl.CPU {
			for _, v := range d.cpuSlots(c) {
				d.peakCPU = max(d.peakCPU, math.Ceil(v))
			}
		}
	}
	return d
}

func (d *drawing) x(t float64) float64 { return plotX + max(0, min(t, d.span))/d.span*plotW }

func (d *drawing) slot(t float64) int {
	return min(buckets-1, max(0, int(t/d.span*buckets)))
}

// lane is one party's requests.
type lane struct {
	role, version string
	reqs          []Request
}

// lanes are tl's parties that have requests, in the timeline's order.
func (d *drawing) lanes(tl *Timeline) []lane {
	by := map[string][]Request{}
	for _, r := range tl.Reqs {
		by[r.Role] = append(by[r.Role], r)
	}
	var out []lane
	for _, p := range tl.Parties {
		if rs, ok := by[p.Role]; ok {
			out = append(out, lane{p.Role, p.Version, rs})
			delete(by, p.Role)
		}
	}
	var rest []string
	for r := range by {
		rest = append(rest, r)
	}
	sort.Strings(rest)
	for _, r := range rest {
		out = append(out, lane{role: r, reqs: by[r]})
	}
	return out
}

// slots is a lane's requests per time slot: the average number in flight,
// how many started, how many failed (a transport error or a 4xx/5xx), and
// the calls that started.
type slots struct {
	avg     [buckets]float64
	started [buckets]int
	failed  [buckets]int
	calls   [buckets]map[string]int
}

func (d *drawing) inFlight(rs []Request) *slots {
	s := &slots{}
	w := d.span / buckets
	for _, r := range rs {
		a, b := r.Start, max(r.End, r.Start)
		i0, i1 := d.slot(a), d.slot(b)
		for i := i0; i <= i1; i++ {
			lo, hi := float64(i)*w, float64(i+1)*w
			s.avg[i] += max(0, min(b, hi)-max(a, lo)) / w
		}
		if b == a { // too short to measure: count it as a sliver
			s.avg[i0] += 0.01
		}
		s.started[i0]++
		if r.Failed || r.Status >= 400 {
			s.failed[i0]++
		}
		if s.calls[i0] == nil {
			s.calls[i0] = map[string]int{}
		}
		s.calls[i0][shortCall(r.Call)]++
	}
	return s
}

// shortCall drops the com.atproto. of a method name.
func shortCall(c string) string { return strings.TrimPrefix(c, "com.atproto.") }

// drawn says whether a stage is drawn: not when it was skipped at once.
func drawn(s Span) bool { return s.State != "skipped" || s.End > s.Start }

// stageAt is the stage that most recently started and was still running
// at t ("" when none).
func stageAt(tl *Timeline, t float64) string {
	name, start := "", -1.0
	for _, s := range tl.Stages {
		if drawn(s) && s.Start <= t && t <= s.End && s.Start > start {
			name, start = s.Name, s.Start
		}
	}
	return name
}

func (d *drawing) color(name string) string {
	if c, ok := d.colors[name]; ok {
		return c
	}
	return idleColor
}

// block draws one timeline from y down and returns where it ends.
func (d *drawing) block(b *strings.Builder, tl *Timeline, y float64) float64 {
	fmt.Fprintf(b, `<text x="4" y="%.1f" font-size="13" font-weight="bold">%s</text>`+"\n", y+12, esc(tl.Title))
	y += 16
	for _, n := range tl.Notes {
		fmt.Fprintf(b, `<text x="4" y="%.1f" fill="#555">%s</text>`+"\n", y+11, esc(n))
		y += 14
	}
	y += 4
	top := y
	y = d.stageLane(b, tl, y)
	for _, l := range d.lanes(tl) {
		y = d.requestLane(b, tl, l, y)
	}
	for _, c := range tl.CPU {
		y = d.cpuLane(b, c, y)
	}
	return d.axis(b, top, y)
}

// stageLane draws the stages as bars, overlapping ones on rows of their own.
func (d *drawing) stageLane(b *strings.Builder, tl *Timeline, y float64) float64 {
	var spans []Span
	for _, s := range tl.Stages {
		if drawn(s) {
			spans = append(spans, s)
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Start < spans[j].Start })
	var rowEnd []float64
	rows := make([]int, len(spans))
	for i, s := range spans {
		r := slices.IndexFunc(rowEnd, func(e float64) bool { return e <= s.Start })
		if r < 0 {
			r = len(rowEnd)
			rowEnd = append(rowEnd, 0)
		}
		rowEnd[r], rows[i] = s.End, r
	}
	h := float64(max(1, len(rowEnd)) * stageRowH)
	fmt.Fprintf(b, `<rect x="0" y="%.1f" width="%d" height="%.1f" fill="#f4f5f7"/>`+"\n", y, svgWidth, h)
	fmt.Fprintf(b, `<text x="4" y="%.1f" font-weight="bold">stages</text>`+"\n", y+12)
	for i, s := range spans {
		x0, x1 := d.x(s.Start), d.x(s.End)
		ry := y + float64(rows[i]*stageRowH) + 1
		state, opacity := "", ""
		switch s.State {
		case "unfinished":
			state = ", unfinished"
		case "skipped":
			state, opacity = ", nothing to do", ` fill-opacity="0.45"`
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"%s><title>%s: %.2f–%.2f s (%.2f s%s)</title></rect>`+"\n",
			x0, ry, max(1, x1-x0), stageRowH-2, d.color(s.Name), opacity, esc(s.Name), s.Start, s.End, s.End-s.Start, state)
		if x1-x0 > float64(len(s.Name))*6+4 {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10">%s</text>`+"\n", x0+2, ry+11, esc(s.Name))
		}
	}
	return y + h + laneGap
}

// requestLane draws a party's requests in flight per slot, coloured by the
// stage running then, failures in red on top, and one tooltip per busy
// stretch with its request count.
func (d *drawing) requestLane(b *strings.Builder, tl *Timeline, l lane, y float64) float64 {
	s := d.inFlight(l.reqs)
	fmt.Fprintf(b, `<rect x="0" y="%d" width="%d" height="%d" fill="#fafafa"/>`+"\n", int(y), svgWidth, laneH)
	version := ""
	if l.version != "" {
		version = fmt.Sprintf(` <tspan font-size="9" font-weight="normal" fill="#555">%s</tspan>`, esc(clip(l.version, 26)))
	}
	fmt.Fprintf(b, `<text x="4" y="%.1f" font-weight="bold">%s%s</text>`+"\n", y+13, esc(l.role), version)
	peak := 0.0
	for _, v := range s.avg {
		peak = max(peak, v)
	}
	sub := fmt.Sprintf("%d requests, ≤%.0f at once", len(l.reqs), math.Ceil(peak-1e-6))
	fmt.Fprintf(b, `<text x="4" y="%.1f" font-size="9" fill="#555">%s</text>`+"\n", y+26, esc(sub))
	w := float64(plotW) / buckets
	base := y + laneH - 2
	unit := (laneH - 8) / d.peakReqs
	height := func(v float64) float64 {
		if v <= 0 {
			return 0
		}
		return math.Round(max(1, v*unit)*2) / 2
	}
	t := func(i int) float64 { return (float64(i) + 0.5) * d.span / buckets }
	// The bars: runs of slots with the same height and colour.
	for i := 0; i < buckets; {
		h, c := height(s.avg[i]), d.color(stageAt(tl, t(i)))
		j := i + 1
		for j < buckets && height(s.avg[j]) == h && d.color(stageAt(tl, t(j))) == c {
			j++
		}
		if h > 0 {
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", plotX+float64(i)*w, base-h, float64(j-i)*w, h, c)
		}
		i = j
	}
	// Failures: red marks at the top of the lane.
	for i := 0; i < buckets; {
		if s.failed[i] == 0 {
			i++
			continue
		}
		j, n := i, 0
		for j < buckets && s.failed[j] > 0 {
			n += s.failed[j]
			j++
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="3" fill="%s"><title>%d failed or error answer(s)</title></rect>`+"\n", plotX+float64(i)*w, y+1, max(2, float64(j-i)*w), errorColor, n)
		i = j
	}
	// Busy stretches: a tooltip and, when there is room, the count.
	for i := 0; i < buckets; {
		if s.avg[i] == 0 && s.started[i] == 0 {
			i++
			continue
		}
		j, n := i, 0
		calls := map[string]int{}
		for j < buckets && (s.avg[j] > 0 || s.started[j] > 0) {
			n += s.started[j]
			for c, k := range s.calls[j] {
				calls[c] += k
			}
			j++
		}
		x0, x1 := plotX+float64(i)*w, plotX+float64(j)*w
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#fff" fill-opacity="0"><title>%s %.2f–%.2f s: %d request(s)%s</title></rect>`+"\n",
			x0, y, x1-x0, laneH, esc(l.role), float64(i)*d.span/buckets, float64(j)*d.span/buckets, n, esc(topCalls(calls)))
		if label := fmt.Sprint(n); n > 0 && x1-x0 >= float64(len(label))*6+4 {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="9" fill="#222">%s</text>`+"\n", x0+1, y+10, label)
		}
		i = j
	}
	return y + laneH + laneGap
}

// topCalls is " (uploadBlob 10, getBlob 10, +3 more)".
func topCalls(calls map[string]int) string {
	if len(calls) == 0 {
		return ""
	}
	names := make([]string, 0, len(calls))
	for c := range calls {
		names = append(names, c)
	}
	sort.Slice(names, func(i, j int) bool {
		return cmp.Or(cmp.Compare(calls[names[j]], calls[names[i]]), cmp.Compare(names[i], names[j])) < 0
	})
	var parts []string
	for i, c := range names {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("+%d more", len(names)-4))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", c, calls[c]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// cpuSlots is the cores a CPU lane kept busy, averaged per slot.
func (d *drawing) cpuSlots(c CPULane) []float64 {
	out := make([]float64, buckets)
	wsum := make([]float64, buckets)
	w := d.span / buckets
	prev := 0.0
	for _, s := range c.Samples {
		a, b := prev, max(prev, s.At)
		prev = b
		for i := d.slot(a); i <= d.slot(b) && b > a; i++ {
			lo, hi := float64(i)*w, float64(i+1)*w
			if ov := min(b, hi) - max(a, lo); ov > 0 {
				out[i] += s.Cores * ov
				wsum[i] += ov
			}
		}
	}
	for i := range out {
		if wsum[i] > 0 {
			out[i] /= wsum[i]
		}
	}
	return out
}

// cpuLane draws a process's CPU as an area, on the picture's cores scale.
func (d *drawing) cpuLane(b *strings.Builder, c CPULane, y float64) float64 {
	v := d.cpuSlots(c)
	total, peak := 0.0, 0.0
	prev := 0.0
	for _, s := range c.Samples {
		total += s.Cores * max(0, s.At-prev)
		prev = max(prev, s.At)
		peak = max(peak, s.Cores)
	}
	fmt.Fprintf(b, `<rect x="0" y="%d" width="%d" height="%d" fill="#f4f5f7"/>`+"\n", int(y), svgWidth, laneH)
	fmt.Fprintf(b, `<text x="4" y="%.1f" font-weight="bold">%s</text>`+"\n", y+13, esc(c.Name))
	fmt.Fprintf(b, `<text x="4" y="%.1f" font-size="9" fill="#555">%.1f CPU s, scale 0–%.0f cores</text>`+"\n", y+26, total, d.peakCPU)
	base := y + laneH - 2
	unit := (laneH - 6) / d.peakCPU
	w := float64(plotW) / buckets
	var p strings.Builder
	fmt.Fprintf(&p, "M%d %.1f", plotX, base)
	last := math.NaN()
	for i, c := range v {
		h := math.Round(c*unit*2) / 2
		if h != last {
			fmt.Fprintf(&p, "L%.1f %.1fL%.1f %.1f", plotX+float64(i)*w, base-max(0, last), plotX+float64(i)*w, base-h)
			last = h
		}
	}
	fmt.Fprintf(&p, "L%d %.1fL%d %.1fZ", plotX+plotW, base-max(0, last), plotX+plotW, base)
	fmt.Fprintf(b, `<path d="%s" fill="%s" fill-opacity="0.75"><title>%s: %.1f CPU s, peak %.2f cores</title></path>`+"\n", strings.ReplaceAll(p.String(), "NaN", "0"), cpuColor, esc(c.Name), total, peak)
	return y + laneH + laneGap
}

// axis draws the time axis under a block, with grid lines up to top.
func (d *drawing) axis(b *strings.Builder, top, y float64) float64 {
	step := niceStep(d.span / 8)
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333"/>`+"\n", plotX, y, plotX+plotW, y)
	for t := 0.0; t <= d.span+step/1e6; t += step {
		x := d.x(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-opacity="0.12"/>`+"\n", x, top, x, y)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x, y, x, y+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s s</text>`+"\n", x, y+15, trimFloat(t))
	}
	return y + 18
}

// niceStep is the 1, 2 or 5 times a power of ten nearest above s.
func niceStep(s float64) float64 {
	if s <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(s)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= s {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(t float64) string {
	s := fmt.Sprintf("%.3f", t)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// legend names the stage colours and says how to read the lanes.
func (d *drawing) legend(b *strings.Builder, y float64) float64 {
	x := 4.0
	for _, n := range d.order {
		w := float64(len(n))*6.2 + 22
		if x+w > svgWidth {
			x, y = 4, y+16
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="12" height="10" fill="%s"/><text x="%.1f" y="%.1f" font-size="10">%s</text>`+"\n", x, y+1, d.color(n), x+15, y+10, esc(n))
		x += w
	}
	y += 18
	fmt.Fprintf(b, `<text x="4" y="%.1f" font-size="10" fill="#333">Bar height: requests in flight to that server (scale 0–%.0f), coloured by the stage running then; count above each busy stretch; red: failed or error answers. CPU lanes: cores busy.</text>`+"\n", y+10, math.Ceil(d.peakReqs-1e-6))
	return y + 14
}

// clip is s cut to n runes.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// esc is s escaped for XML text and attributes.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
