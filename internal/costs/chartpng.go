package costs

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PNG draws the runway as the SVG does — each pool's projected balance in
// USD over the horizon, the day it runs out or expires marked, credit lost
// at expiry dropped to zero — with gonum's plotting library, as a
// chartW × chartH pixel PNG image.
func (r Runway) PNG() ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Credit runway as of " + r.AsOf.Format(time.DateOnly) + " — a projection"
	p.X.Label.Text = fmt.Sprintf("Month (infrastructure $%s/month; LLM trend over the last %d days)", trim2(r.InfraMonthlyUSD), r.TrendDays)
	p.Y.Label.Text = "Balance in USD" + rateNote(r)
	horizon := r.AsOf.AddDate(0, r.HorizonMonths, 0)
	p.X.Min, p.X.Max = 0, horizon.Sub(r.AsOf).Hours()/24
	ymax := 0.0
	for _, pool := range r.Pools {
		for _, pt := range pool.Series {
			ymax = math.Max(ymax, pt.Balance)
		}
	}
	ymax, step := niceScale(ymax)
	p.Y.Min, p.Y.Max = 0, ymax
	p.X.Tick.Marker = monthTicks{asOf: r.AsOf, months: r.HorizonMonths}
	p.Y.Tick.Marker = dollarTicks{step: step}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(labelSize)

	for i, pool := range r.Pools {
		if len(pool.Series) == 0 {
			continue
		}
		colour := hexColour(palette[i%len(palette)])
		pts := make(plotter.XYs, len(pool.Series))
		for j, pt := range pool.Series {
			pts[j].X, pts[j].Y = pt.Day, pt.Balance
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("costs: runway chart, pool %s: %w", pool.Name, err)
		}
		line.Color, line.Width = colour, vg.Points(2.5)
		p.Add(line)
		p.Legend.Add(pool.Name+": "+endLabel(pool), line)
		last := pool.Series[len(pool.Series)-1]
		if pool.EndReason == EndExpired && last.Balance > 0 {
			drop, err := plotter.NewLine(plotter.XYs{{X: last.Day, Y: last.Balance}, {X: last.Day, Y: 0}})
			if err != nil {
				return nil, err
			}
			drop.Color, drop.Dashes = colour, []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(drop)
		}
		if pool.EndReason != EndBeyondHorizon {
			end, err := plotter.NewScatter(plotter.XYs{{X: last.Day, Y: 0}})
			if err != nil {
				return nil, err
			}
			end.GlyphStyle = draw.GlyphStyle{Color: colour, Radius: vg.Points(5), Shape: draw.CircleGlyph{}}
			p.Add(end)
		}
	}
	// One point per pixel: vg lengths are points, so 72 dots per inch.
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(chartW), vg.Length(chartH)), vgimg.UseDPI(72), vgimg.UseBackgroundColor(color.White))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("costs: encode the runway chart: %w", err)
	}
	return b.Bytes(), nil
}

// monthTicks marks the start of every month of the horizon (days after
// asOf), labelling every third past a year, as the SVG does.
type monthTicks struct {
	asOf   time.Time
	months int
}

func (m monthTicks) Ticks(lo, hi float64) []plot.Tick {
	every := 1
	if m.months > 12 {
		every = 3
	}
	var ticks []plot.Tick
	for k := 0; k <= m.months; k++ {
		t := m.asOf.AddDate(0, k, 0)
		d := t.Sub(m.asOf).Hours() / 24
		if d < lo || d > hi {
			continue
		}
		tick := plot.Tick{Value: d}
		if k%every == 0 {
			tick.Label = t.Format("2006-01")
		}
		ticks = append(ticks, tick)
	}
	return ticks
}

// dollarTicks marks the balance axis every step dollars.
type dollarTicks struct{ step float64 }

func (d dollarTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for v := lo; v <= hi+d.step/2; v += d.step {
		ticks = append(ticks, plot.Tick{Value: v, Label: "$" + thousands(v)})
	}
	return ticks
}

// hexColour parses the palette's "#rrggbb".
func hexColour(s string) color.Color {
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil || len(s) != 7 {
		return color.Black
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}
