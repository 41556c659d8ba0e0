package bench

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	svgW, svgH                     = 760, 470
	plotL, plotR, plotT, plotB     = 80, 680, 80, 400
	colorLoss, colorCPU, colorGrid = "#d62728", "#1f77b4", "#dddddd"
)

// xRate is the x position of a row: its offered rate, or for "max" the rate
// actually sent.
func xRate(r SweepRow) float64 {
	if r.Offered > 0 {
		return r.Offered
	}
	return r.Agent.Sent.Rate()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least min).
func niceCeil(v, min float64) float64 {
	if v < min || math.IsNaN(v) {
		v = min
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// WriteSVG writes a plot of loss % (left axis) and agent CPU seconds per
// million lines (right axis) against the offered rate (log x axis), with
// the bare reader's figures dashed when present.
func WriteSVG(w io.Writer, rows []SweepRow, title string) error {
	var pts []SweepRow
	for _, r := range rows {
		if xRate(r) > 0 {
			pts = append(pts, r)
		}
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	maxLoss, maxCPU := 0.0, 0.0
	for _, r := range pts {
		x := xRate(r)
		xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		maxLoss = math.Max(maxLoss, math.Max(r.Agent.Loss(), r.Baseline.Loss()))
		maxCPU = math.Max(maxCPU, math.Max(r.Agent.CPUPerMillion(), r.Baseline.CPUPerMillion()))
	}
	if len(pts) == 0 {
		xmin, xmax = 1e5, 1e6
	}
	lo := math.Pow(10, math.Floor(math.Log10(xmin)))
	hi := math.Pow(10, math.Ceil(math.Log10(xmax)))
	if hi <= lo {
		hi = lo * 10
	}
	lossTop := min(niceCeil(maxLoss*1.1, 1), 100) // a loss is at most 100 %
	cpuTop := niceCeil(maxCPU*1.1, 0.1)
	px := func(x float64) float64 {
		return plotL + (math.Log10(x)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(plotR-plotL)
	}
	py := func(v, top float64) float64 { return plotB - v/top*(plotB-plotT) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(&b, `<text x="%d" y="25" text-anchor="middle" font-size="15">%s</text>`+"\n", svgW/2, esc(title))
	// X grid: decades, labelled.
	for d := lo; d <= hi*1.0001; d *= 10 {
		x := px(d)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x, plotT, x, plotB, colorGrid)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, plotB+18, esc(HumanCount(d)))
	}
	// Y grid: 5 steps, loss on the left, CPU on the right.
	for i := 0; i <= 5; i++ {
		f := float64(i) / 5
		y := plotB - f*(plotB-plotT)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", plotL, y, plotR, y, colorGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`+"\n", plotL-6, y+4, colorLoss, esc(trimFloat(f*lossTop)))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="%s">%s</text>`+"\n", plotR+6, y+4, colorCPU, esc(trimFloat(f*cpuTop)))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>`+"\n", plotL, plotT, plotR-plotL, plotB-plotT)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">offered rate (lines/s, log scale; "max" at the rate sent)</text>`+"\n", (plotL+plotR)/2, plotB+40)
	fmt.Fprintf(&b, `<text transform="translate(25 %d) rotate(-90)" text-anchor="middle" fill="%s">loss %%</text>`+"\n", (plotT+plotB)/2, colorLoss)
	fmt.Fprintf(&b, `<text transform="translate(%d %d) rotate(90)" text-anchor="middle" fill="%s">CPU seconds per million lines</text>`+"\n", svgW-25, (plotT+plotB)/2, colorCPU)

	series := func(color, dash string, val func(SweepRow) (float64, bool), top float64) {
		var coords []string
		for _, r := range pts {
			v, ok := val(r)
			if !ok {
				continue
			}
			coords = append(coords, fmt.Sprintf("%.1f,%.1f", px(xRate(r)), py(v, top)))
		}
		if len(coords) == 0 {
			return
		}
		dashAttr := ""
		if dash != "" {
			dashAttr = ` stroke-dasharray="` + dash + `"`
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(coords, " "), color, dashAttr)
		for _, c := range coords {
			x, y, _ := strings.Cut(c, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", x, y, color)
		}
	}
	series(colorLoss, "", func(r SweepRow) (float64, bool) { return r.Agent.Loss(), true }, lossTop)
	series(colorCPU, "", func(r SweepRow) (float64, bool) { return r.Agent.CPUPerMillion(), r.Agent.HasCPU }, cpuTop)
	series(colorLoss, "6 4", func(r SweepRow) (float64, bool) { return r.Baseline.Loss(), r.HasBaseline }, lossTop)
	series(colorCPU, "6 4", func(r SweepRow) (float64, bool) {
		return r.Baseline.CPUPerMillion(), r.HasBaseline && r.Baseline.HasCPU
	}, cpuTop)

	// Mark the "max" rows, plotted at the rate sent.
	for _, r := range pts {
		if r.Offered <= 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-style="italic">max</text>`+"\n", px(xRate(r)), plotB-6)
		}
	}
	// Legend, above the plot.
	legend := []struct{ color, dash, label string }{
		{colorLoss, "", "agent loss %"}, {colorCPU, "", "agent CPU s/M lines"},
		{colorLoss, "6 4", "bare reader loss %"}, {colorCPU, "6 4", "bare reader CPU s/M lines"},
	}
	for i, l := range legend {
		x := plotL + 10 + (i%2)*260
		y := 48 + (i/2)*18
		dashAttr := ""
		if l.dash != "" {
			dashAttr = ` stroke-dasharray="` + l.dash + `"`
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", x, y-4, x+24, y-4, l.color, dashAttr)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+30, y, esc(l.label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func trimFloat(v float64) string { return fmt.Sprintf("%.3g", v) }

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
