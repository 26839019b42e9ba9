package bench

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{20, 20, 20, 255}
	grey    = color.RGBA{150, 150, 150, 255}
	light   = color.RGBA{225, 225, 225, 255}
	red     = color.RGBA{200, 30, 30, 255}
	palette = []color.RGBA{
		{31, 119, 180, 255}, // blue
		{255, 127, 14, 255}, // orange
		{44, 160, 44, 255},  // green
		{148, 103, 189, 255},
		{140, 86, 75, 255},
		{227, 119, 194, 255},
	}
)

// Plot draws the report's one figure: on the left, each mode's throughput
// as a ratio to the bare ssh pipe with the same compression, with its
// target; on the right, the latency distribution of every latency run on a
// log scale, with the p99 targets.
func Plot(r *Results) *image.RGBA {
	const w, h = 1400, 620
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fillRect(img, 0, 0, w, h, white)
	plotRatios(r, img, image.Rect(0, 0, 680, h))
	plotLatency(r, img, image.Rect(700, 0, w, h))
	return img
}

func plotRatios(r *Results, img *image.RGBA, area image.Rectangle) {
	drawText(img, area.Min.X+20, area.Min.Y+16, 2, black, "throughput / bare ssh pipe")
	drawText(img, area.Min.X+20, area.Min.Y+42, 1, grey, fmt.Sprintf("%s lines of %d B, median of %d rounds; red tick = target", thousands(r.Lines), r.LineSize, r.Rounds))
	var modes []Mode
	for _, m := range r.Throughput {
		if !m.Bare {
			modes = append(modes, m)
		}
	}
	if len(modes) == 0 {
		drawText(img, area.Min.X+20, area.Min.Y+100, 2, grey, "not measured")
		return
	}
	const maxRatio = 1.2
	labelW := 0
	for _, m := range modes {
		labelW = max(labelW, textWidth(shortLabel(m), 2))
	}
	x0 := area.Min.X + 30 + labelW
	x1 := area.Max.X - 70
	top, bottom := area.Min.Y+70, area.Max.Y-50
	xOf := func(v float64) int { return x0 + int(math.Round(v/maxRatio*float64(x1-x0))) }
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1, 1.2} {
		x := xOf(v)
		c := light
		if v == 1 {
			c = grey
		}
		vline(img, x, top, bottom, c, v == 1)
		label := fmt.Sprintf("%.2f", v)
		drawText(img, x-textWidth(label, 1)/2, bottom+8, 1, black, label)
	}
	slot := (bottom - top) / len(modes)
	barH := min(34, slot*2/3)
	for i, m := range modes {
		_, _, ratio, ok := r.summary(m)
		y := top + i*slot + (slot-barH)/2
		c := palette[0]
		if !m.Compress {
			c = palette[1]
		}
		drawText(img, area.Min.X+20, y+barH/2-7, 2, black, shortLabel(m))
		fillRect(img, x0, y, xOf(min(ratio, maxRatio))-x0, barH, c)
		val := fmt.Sprintf("%.2f", ratio)
		if !ok {
			val += " NOT EXACT"
		}
		tx := xOf(m.Target)
		fillRect(img, tx-1, y-5, 3, barH+10, red)
		drawText(img, max(xOf(min(ratio, maxRatio)), tx+2)+6, y+barH/2-7, 2, black, val)
	}
	drawText(img, x0, area.Max.Y-22, 1, grey, "blue: ssh -C   orange: --no-compress")
}

func shortLabel(m Mode) string {
	s := m.Name
	if m.Compress {
		return s + " -C"
	}
	return s + " no -C"
}

func plotLatency(r *Results, img *image.RGBA, area image.Rectangle) {
	drawText(img, area.Min.X+10, area.Min.Y+16, 2, black, "latency: input -> remote file")
	drawText(img, area.Min.X+10, area.Min.Y+42, 1, grey, "share of lines (nines scale) against ms (log scale); red = p99 targets, bare p99 + 1 ms")
	var runs []Latency
	for _, l := range r.Latency {
		if len(l.MS.Quantiles) == len(QuantileLevels) {
			runs = append(runs, l)
		}
	}
	if len(runs) == 0 {
		drawText(img, area.Min.X+20, area.Min.Y+100, 2, grey, "not measured")
		return
	}
	x0, x1 := area.Min.X+70, area.Max.X-20
	top, bottom := area.Min.Y+70, area.Max.Y-150
	lo, hi := 0.01, 100.0
	for _, l := range runs {
		for hi < l.MS.Max && hi < 1e5 {
			hi *= 10
		}
	}
	xOf := func(ms float64) int {
		ms = min(max(ms, lo), hi)
		return x0 + int(math.Round((math.Log10(ms)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*float64(x1-x0)))
	}
	const maxNines = 4.0
	yOf := func(q float64) int {
		n := min(-math.Log10(math.Max(1-q, 1e-12)), maxNines)
		return bottom - int(math.Round(n/maxNines*float64(bottom-top)))
	}
	for p := math.Log10(lo); p <= math.Log10(hi)+0.001; p++ {
		ms := math.Pow10(int(math.Round(p)))
		x := xOf(ms)
		vline(img, x, top, bottom, light, false)
		label := fmt.Sprintf("%g", ms)
		drawText(img, x-textWidth(label, 1)/2, bottom+8, 1, black, label)
	}
	drawText(img, (x0+x1)/2-20, bottom+22, 1, black, "ms")
	for _, q := range []struct {
		q     float64
		label string
	}{{0, "0%"}, {0.5, "50%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}, {0.9999, "99.99%"}} {
		y := yOf(q.q)
		hline(img, x0, x1, y, light)
		drawText(img, x0-8-textWidth(q.label, 1), y-3, 1, black, q.label)
	}
	for _, l := range runs {
		if b := r.bareLatency(l.Rate); b != nil && l.Target > 0 {
			vline(img, xOf(b.MS.P99+l.Target), top, bottom, red, true)
		}
	}
	for i, l := range runs {
		c := palette[i%len(palette)]
		var px, py int
		for j, q := range QuantileLevels {
			x, y := xOf(l.MS.Quantiles[j]), yOf(q)
			if j > 0 {
				line(img, px, py, x, y, c)
				line(img, px, py+1, x, y+1, c)
			}
			px, py = x, y
		}
		// Legend below the axis.
		lx := area.Min.X + 20
		ly := bottom + 40 + i*16
		fillRect(img, lx, ly+2, 18, 4, c)
		drawText(img, lx+24, ly, 1, black, fmt.Sprintf("%s %s/s: p50 %.2f p99 %.2f max %.1f ms", l.Name, thousands(l.Rate), l.MS.P50, l.MS.P99, l.MS.Max))
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color, dashed bool) {
	for y := y0; y <= y1; y++ {
		if !dashed || (y/4)%2 == 0 {
			img.Set(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

// line draws from (x0,y0) to (x1,y1) (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
