package costs

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"path/filepath"
	"time"
)

// chart geometry, in SVG user units.
const (
	chartW, chartH             = 1040, 560
	marginL, marginR           = 90, 300
	marginT, marginB           = 60, 80
	plotW                      = chartW - marginL - marginR
	plotH                      = chartH - marginT - marginB
	legendX                    = chartW - marginR + 24
	chartFont                  = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`
	axisColour, gridColour     = "#444", "#ddd"
	expiredColour, cashColour  = "#888", "#b00"
	titleSize, labelSize, tiny = 18, 12, 10
)

// palette colours the pools, in order.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"}

// SVG draws the runway: each pool's projected balance in USD over the
// horizon, with the date it runs out or expires marked.
func (r Runway) SVG() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	horizon := r.AsOf.AddDate(0, r.HorizonMonths, 0)
	days := horizon.Sub(r.AsOf).Hours() / 24
	ymax := 0.0
	for _, p := range r.Pools {
		for _, pt := range p.Series {
			ymax = math.Max(ymax, pt.Balance)
		}
	}
	ymax, step := niceScale(ymax)
	x := func(d float64) float64 { return marginL + d/days*plotW }
	y := func(v float64) float64 { return marginT + plotH - v/ymax*plotH }

	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>`+"\n", chartW, chartH, chartW, chartH, chartFont)
	w(`<title>QLP credit runway as of %s (projection)</title>`+"\n", r.AsOf.Format(time.DateOnly))
	w(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	w(`<text x="%d" y="28" font-size="%d" font-weight="bold">Credit runway as of %s — a projection</text>`+"\n", marginL, titleSize, r.AsOf.Format(time.DateOnly))
	w(`<text x="%d" y="46" font-size="%d" fill="%s">Balance in USD%s; infrastructure %s/month; LLM trend over the last %d days</text>`+"\n",
		marginL, labelSize, axisColour, rateNote(r), "$"+trim2(r.InfraMonthlyUSD), r.TrendDays)

	// Grid and y axis.
	for v := 0.0; v <= ymax+step/2; v += step {
		w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", marginL, y(v), marginL+plotW, y(v), gridColour)
		w(`<text x="%d" y="%.1f" font-size="%d" text-anchor="end">$%s</text>`+"\n", marginL-8, y(v)+4, labelSize, thousands(v))
	}
	// X axis: a tick per month, a label every few months.
	every := 1
	if r.HorizonMonths > 12 {
		every = 3
	}
	for k := 0; k <= r.HorizonMonths; k++ {
		t := r.AsOf.AddDate(0, k, 0)
		xx := x(t.Sub(r.AsOf).Hours() / 24)
		w(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", xx, marginT+plotH, xx, marginT+plotH+5, axisColour)
		if k%every == 0 {
			w(`<text x="%.1f" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n", xx, marginT+plotH+20, labelSize, t.Format("2006-01"))
		}
	}
	w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", marginL, marginT+plotH, marginL+plotW, marginT+plotH, axisColour)
	w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", marginL, marginT, marginL, marginT+plotH, axisColour)

	// One line per pool, and its end.
	ly := marginT + 10
	for i, p := range r.Pools {
		colour := palette[i%len(palette)]
		end := endLabel(p)
		w(`<g data-pool="%s" data-ends="%s" data-end-reason="%s">`+"\n", esc(p.Name), esc(p.EndsMonth), esc(p.EndReason))
		if len(p.Series) > 0 {
			w(`<polyline fill="none" stroke="%s" stroke-width="2.5" points="`, colour)
			for j, pt := range p.Series {
				if j > 0 {
					b.WriteByte(' ')
				}
				w("%.1f,%.1f", x(pt.Day), y(pt.Balance))
			}
			w(`"/>` + "\n")
			last := p.Series[len(p.Series)-1]
			if p.EndReason == EndExpired && last.Balance > 0 {
				// The credit left at expiry is lost: drop to zero.
				w(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3"/>`+"\n", x(last.Day), y(last.Balance), x(last.Day), y(0), colour)
			}
			if p.EndReason != EndBeyondHorizon {
				w(`<circle cx="%.1f" cy="%.1f" r="5" fill="%s"/>`+"\n", x(last.Day), y(0), colour)
				w(`<text x="%.1f" y="%.1f" font-size="%d" fill="%s" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
					x(last.Day)-4, y(0)-10, tiny, colour, x(last.Day)-4, y(0)-10, esc(p.Name+" "+end))
			}
		}
		w(`<rect x="%d" y="%d" width="14" height="4" fill="%s"/>`+"\n", legendX, ly, colour)
		w(`<text x="%d" y="%d" font-size="%d" font-weight="bold">%s</text>`+"\n", legendX+20, ly+6, labelSize, esc(p.Name))
		w(`<text x="%d" y="%d" font-size="%d">%s %s ($%s), burn $%s/mo</text>`+"\n", legendX+20, ly+21, tiny, esc(p.Amount), esc(p.Currency), trim2(p.AmountUSD), trim2(p.MonthlyUSD))
		w(`<text x="%d" y="%d" font-size="%d" fill="%s">%s</text>`+"\n", legendX+20, ly+35, tiny, endColour(p, colour), esc(end))
		w("</g>\n")
		ly += 52
	}
	if r.Uncovered.MonthlyUSD != "0.000000" {
		w(`<text x="%d" y="%d" font-size="%d" fill="%s">Paid in cash: $%s/month</text>`+"\n", legendX, ly+6, labelSize, cashColour, trim2(r.Uncovered.MonthlyUSD))
	}
	w(`<text x="%d" y="%d" font-size="%d" fill="%s">Projection from the cost plan (%s) and the metered LLM spend; see docs/costs.md for the method.</text>`+"\n",
		marginL, chartH-20, tiny, axisColour, esc(filepath.Base(r.Plan)))
	w("</svg>\n")
	return b.Bytes()
}

// endLabel is how a pool ends, in words.
func endLabel(p PoolRunway) string {
	switch p.EndReason {
	case EndExhausted:
		return "runs out " + p.EndsMonth
	case EndExpired:
		s := "expires " + p.EndsMonth
		if p.UnusedUSD != "" && p.UnusedUSD != "0.000000" {
			s += " ($" + trim2(p.UnusedUSD) + " unused)"
		}
		return s
	default:
		return "lasts beyond the horizon"
	}
}

func endColour(p PoolRunway, colour string) string {
	if p.EndReason == EndExpired {
		return expiredColour
	}
	return colour
}

func rateNote(r Runway) string {
	if r.GBPUSDRate == "" {
		return ""
	}
	return " (GBP at $" + trimZeros(r.GBPUSDRate) + ")"
}

// niceScale rounds max up to 1, 2 or 5 × 10^n and returns the grid step.
func niceScale(max float64) (float64, float64) {
	if max <= 0 {
		return 100, 20
	}
	mag := math.Pow(10, math.Floor(math.Log10(max)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= max {
			top := m * mag
			return top, top / 5
		}
	}
	return 10 * mag, 2 * mag
}

// thousands formats 12500 as "12,500".
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	out := []byte{}
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// trim2 shortens a six-decimal USD amount to cents for labels.
func trim2(usd string) string {
	for i := range usd {
		if usd[i] == '.' && len(usd) > i+3 {
			return usd[:i+3]
		}
	}
	return usd
}

func trimZeros(s string) string {
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

func esc(s string) string { return html.EscapeString(s) }
