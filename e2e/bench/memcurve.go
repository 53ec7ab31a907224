package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// memLimitMB is the line the memory curve must stay under: issue 23's
// bound for a million records.
const memLimitMB = 128

// curvePoint is one record count of the memory curve: the median peak
// RSS over its runs and their range, in MB.
type curvePoint struct {
	Records   int
	Median    float64
	Low, High float64
}

// memCurvePoints are the cells of one setting as points, by record count.
func memCurvePoints(cells []*MemCell, setting string) []curvePoint {
	var pts []curvePoint
	for _, c := range cells {
		if c.Setting != setting || len(c.Runs) == 0 {
			continue
		}
		var xs []float64
		for _, r := range c.Runs {
			xs = append(xs, float64(r.PeakRSSKB)/1024)
		}
		sort.Float64s(xs)
		pts = append(pts, curvePoint{Records: c.Records, Median: median(xs), Low: xs[0], High: xs[len(xs)-1]})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Records < pts[j].Records })
	return pts
}

// curveAxes maps record counts (log scale, whole powers of ten) and MB to
// the plot's pixels.
type curveAxes struct {
	width, height         float64
	left, right, top, bot float64
	minDecade, maxDecade  int
	maxMB, stepMB         float64
	plotWidth, plotHeight float64
}

func newCurveAxes(pts []curvePoint, limitMB float64) curveAxes {
	a := curveAxes{width: 560, height: 320, left: 56, right: 16, top: 34, bot: 44}
	a.plotWidth, a.plotHeight = a.width-a.left-a.right, a.height-a.top-a.bot
	lo, hi, top := math.Inf(1), math.Inf(-1), limitMB
	for _, p := range pts {
		lo = min(lo, math.Log10(float64(p.Records)))
		hi = max(hi, math.Log10(float64(p.Records)))
		top = max(top, p.High)
	}
	if len(pts) == 0 {
		lo, hi = 3, 6
	}
	a.minDecade, a.maxDecade = int(math.Floor(lo)), int(math.Ceil(hi))
	if a.maxDecade == a.minDecade {
		a.maxDecade++
	}
	a.stepMB = 32
	a.maxMB = math.Ceil(top*1.05/a.stepMB) * a.stepMB
	return a
}

// xPad keeps the first and last decades off the plot's edges.
const xPad = 24

func (a curveAxes) x(records int) float64 {
	f := (math.Log10(float64(records)) - float64(a.minDecade)) / float64(a.maxDecade-a.minDecade)
	return a.left + xPad + f*(a.plotWidth-2*xPad)
}

func (a curveAxes) y(mb float64) float64 { return a.top + (1-mb/a.maxMB)*a.plotHeight }

// decadeLabel names a power of ten as the bench does: 1k, 10k, 1M.
func decadeLabel(d int) string {
	switch {
	case d >= 6:
		return fmt.Sprintf("%.0fM", math.Pow10(d-6))
	case d >= 3:
		return fmt.Sprintf("%.0fk", math.Pow10(d-3))
	default:
		return fmt.Sprintf("%.0f", math.Pow10(d))
	}
}

// writeMemCurve draws peak RSS against the record count, log x axis: a
// point at each median with a bar over the runs' range, a line through
// the medians, and a dashed line at limitMB. Standard library only.
func writeMemCurve(w io.Writer, title string, pts []curvePoint, limitMB float64) error {
	a := newCurveAxes(pts, limitMB)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s)) // a strings.Builder cannot fail
		return e.String()
	}
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", a.width, a.height, a.width, a.height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%.0f" y="20" font-size="14">%s</text>`+"\n", a.left, esc(title))
	// Axes, grid and ticks.
	bottom, right := a.top+a.plotHeight, a.left+a.plotWidth
	for mb := 0.0; mb <= a.maxMB; mb += a.stepMB {
		y := a.y(mb)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", a.left, y, right, y)
		p(`<text x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`+"\n", a.left-6, y+4, mb)
	}
	for d := a.minDecade; d <= a.maxDecade; d++ {
		x := a.x(int(math.Pow10(d)))
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, a.top, x, bottom)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, bottom+16, decadeLabel(d))
	}
	p(`<path d="M%.1f %.1fV%.1fH%.1f" fill="none" stroke="black"/>`+"\n", a.left, a.top, bottom, right)
	p(`<text x="%.1f" y="%.1f" text-anchor="middle">records (log scale)</text>`+"\n", a.left+a.plotWidth/2, a.height-6)
	p(`<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">peak RSS, MB</text>`+"\n", a.top+a.plotHeight/2)
	// The limit.
	ly := a.y(limitMB)
	p(`<line class="limit" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6 4"/>`+"\n", a.left, ly, right, ly)
	p(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#c00">%.0f MB</text>`+"\n", right-4, ly-5, limitMB)
	// The medians, joined, with each range as a bar.
	if len(pts) > 0 {
		var path []string
		for _, pt := range pts {
			path = append(path, fmt.Sprintf("%.1f %.1f", a.x(pt.Records), a.y(pt.Median)))
		}
		p(`<path d="M%s" fill="none" stroke="#1f5fa8" stroke-width="2"/>`+"\n", strings.Join(path, "L"))
	}
	for _, pt := range pts {
		x := a.x(pt.Records)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1f5fa8"/>`+"\n", x, a.y(pt.Low), x, a.y(pt.High))
		p(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1f5fa8"><title>%s records: %.1f MB (%.1f-%.1f)</title></circle>`+"\n",
			x, a.y(pt.Median), thousands(pt.Records), pt.Median, pt.Low, pt.High)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", x, a.y(pt.High)-8, pt.Median)
	}
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
