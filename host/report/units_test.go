package report

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotter"

	"github.com/prefopt/prefopt/host/summary"
)

func TestNumber(t *testing.T) {
	tests := []struct {
		name string
		v    float64
		want string
	}{
		{"rounding noise is zero", 3e-17, "0"},
		{"negative rounding noise is zero", -4e-12, "0"},
		{"small keeps 3 significant digits", 0.0057512, "0.00575"},
		{"below one keeps trailing zeros", 0.5, "0.500"},
		{"below one", 0.03012, "0.0301"},
		{"negative below one", -0.4449, "-0.445"},
		{"three decimals", 1.53949, "1.539"},
		{"one decimal from 100", 1234.56, "1234.6"},
		{"exponent from 1e5", 123456, "1.23e+05"},
		{"tiny but above zeroBelow", 2.5e-6, "2.50e-06"},
		{"NaN", math.NaN(), "NaN"},
		{"+Inf", math.Inf(1), "+∞"},
		{"-Inf", math.Inf(-1), "−∞"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, number(tc.v))
		})
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		name string
		v    float64
		want string
	}{
		{"zero", 0, "0.0%"},
		{"fraction", 0.8125, "81.2%"}, // 81.25 rounds half to even in %.1f
		{"one", 1, "100.0%"},
		{"NaN", math.NaN(), "NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, percent(tc.v))
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		name string
		sec  float64
		want string
	}{
		{"seconds", 12.34, "12.3 s"},
		{"minutes", 431.7, "7 min 12 s"},
		{"hours", 7380, "2 h 03 min"},
		{"negative", -1, "unknown"},
		{"NaN", math.NaN(), "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, duration(tc.sec))
		})
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		name      string
		min, max  float64
		labelled  []float64 // 1, 2, 5 × 10^k inside [min, max]
		numTicks  int       // every m × 10^k, m = 1..9, inside [min, max]
		tolerance float64
	}{
		// 0.03..0.09 (7), 0.1..0.9 (9), 1 (1).
		{"two decades", 0.03, 1.5, []float64{0.05, 0.1, 0.2, 0.5, 1}, 17, 1e-15},
		// 2..9 (8), 10..90 (9), 100 (1).
		{"bounds on ticks", 2, 100, []float64{2, 5, 10, 20, 50, 100}, 18, 1e-12},
		// 0.004, 0.005, 0.006 only.
		{"inside one decade", 0.004, 0.0065, []float64{0.005}, 3, 1e-18},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ticks := logTicks{}.Ticks(tc.min, tc.max)
			assert.Len(t, ticks, tc.numTicks)
			var got []float64
			for _, tk := range ticks {
				assert.True(t, tk.Value >= tc.min*(1-1e-9) && tk.Value <= tc.max*(1+1e-9), "tick %g outside range", tk.Value)
				if tk.Label != "" {
					got = append(got, tk.Value)
				}
			}
			require.Len(t, got, len(tc.labelled))
			for i := range got {
				assert.InDelta(t, tc.labelled[i], got[i], tc.tolerance)
			}
		})
	}
	assert.Panics(t, func() { logTicks{}.Ticks(0, 1) })
}

func TestClipFrontier(t *testing.T) {
	// exactTol: the interpolated point's coordinates are sums of a few
	// dyadic fractions, exact in float64 up to one rounding.
	const exactTol = 1e-15
	fp := func(beta, kl, r float64) summary.FrontierPoint {
		return summary.FrontierPoint{Beta: beta, KLToReference: kl, ExpectedReward: r}
	}
	tests := []struct {
		name      string
		in        []summary.FrontierPoint
		xmax      float64
		wantLine  plotter.XYs
		wantBetas []float64
	}{
		{
			name:      "all inside",
			in:        []summary.FrontierPoint{fp(4, 0.5, 1), fp(1, 1, 2)},
			xmax:      2,
			wantLine:  plotter.XYs{{X: 0.5, Y: 1}, {X: 1, Y: 2}},
			wantBetas: []float64{4, 1},
		},
		{
			// The segment (1, 1)–(3, 2) crosses x = 2 halfway: y = 1.5.
			name:      "cut between points, input unsorted",
			in:        []summary.FrontierPoint{fp(0.5, 3, 2), fp(8, 0, 0), fp(2, 1, 1)},
			xmax:      2,
			wantLine:  plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}, {X: 2, Y: 1.5}},
			wantBetas: []float64{8, 2},
		},
		{
			name:      "non-finite points dropped",
			in:        []summary.FrontierPoint{fp(8, 0, 0), fp(4, math.NaN(), 1), fp(2, 1, math.Inf(1)), fp(1, 1.5, 1.25)},
			xmax:      5,
			wantLine:  plotter.XYs{{X: 0, Y: 0}, {X: 1.5, Y: 1.25}},
			wantBetas: []float64{8, 1},
		},
		{
			name: "first point beyond the range",
			in:   []summary.FrontierPoint{fp(1, 3, 2)},
			xmax: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line, kept := clipFrontier(tc.in, tc.xmax)
			require.Len(t, line, len(tc.wantLine))
			for i := range line {
				assert.InDelta(t, tc.wantLine[i].X, line[i].X, exactTol, "point %d", i)
				assert.InDelta(t, tc.wantLine[i].Y, line[i].Y, exactTol, "point %d", i)
			}
			assert.Equal(t, tc.wantBetas, kept.Betas)
			assert.Len(t, kept.XYs, len(tc.wantBetas))
		})
	}
}

func TestSortByKLOpt(t *testing.T) {
	mk := func(label string, vals map[string]float64) row { return row{Label: label, vals: vals} }
	rows := []row{
		mk("no kl", map[string]float64{keyReward: 1}),
		mk("b", map[string]float64{keyKLOpt: 0.2}),
		mk("nan", map[string]float64{keyKLOpt: math.NaN()}),
		mk("a", map[string]float64{keyKLOpt: 0.1}),
		mk("inf", map[string]float64{keyKLOpt: math.Inf(1)}),
		mk("also no kl", nil),
	}
	sortByKLOpt(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.Label)
	}
	assert.Equal(t, []string{"a", "b", "inf", "no kl", "nan", "also no kl"}, got)
}

func TestInlineSVG(t *testing.T) {
	doc := "<?xml version=\"1.0\"?>\n<!-- comment -->\n<svg width=\"600pt\" height=\"330pt\" viewBox=\"0 0 600 330\"\n" +
		"\txmlns=\"http://www.w3.org/2000/svg\">\n<text style=\"font-family:Liberation Sans;font-size:9px\">x</text></svg>\n"
	got, err := inlineSVG(doc, `a "b" <c>`)
	require.NoError(t, err)
	assert.Equal(t, `<svg class="plot" role="img" aria-label="a &#34;b&#34; &lt;c&gt;" viewBox="0 0 600 330"`+"\n"+
		"\txmlns=\"http://www.w3.org/2000/svg\">\n<text style=\"font-family:Liberation Sans,Arial,Helvetica,sans-serif;font-size:9px\">x</text></svg>\n", got)

	_, err = inlineSVG("<html></html>", "t")
	assert.ErrorContains(t, err, "report: t: no <svg> element")
	_, err = inlineSVG(`<svg viewBox="0 0 1 1"></svg>`, "t")
	assert.ErrorContains(t, err, "report: t: unexpected <svg> element")
}

func TestSeries(t *testing.T) {
	pts := []summary.Point{
		{Step: 0, Values: map[string]float64{"x": 1}},
		{Step: 4, Values: map[string]float64{"y": 2}},
		{Step: 8, Values: map[string]float64{"x": math.NaN()}},
		{Step: 12, Values: map[string]float64{"x": 3}},
		{Step: 16, Values: map[string]float64{"x": math.Inf(-1)}},
	}
	xys, bad := series(pts, xAxis{label: "step"}, "x")
	assert.Equal(t, plotter.XYs{{X: 0, Y: 1}, {X: 12, Y: 3}}, xys)
	assert.Equal(t, 2, bad)
	// Against another metric: the x value comes from the point.
	xys, _ = series(pts, xAxis{key: "y"}, "y")
	assert.Equal(t, plotter.XYs{{X: 2, Y: 2}}, xys)
}

// TestDistinctTicks checks that tick labels tell ticks apart even on a
// narrow range, where the default labels repeat.
func TestDistinctTicks(t *testing.T) {
	for _, r := range [][2]float64{{1.479, 1.521}, {0.42, 0.5}, {0, 1}, {100, 200}, {-3e-5, 2e-5}} {
		seen := map[string]float64{}
		n := 0
		for _, tk := range (distinctTicks{}).Ticks(r[0], r[1]) {
			if tk.Label == "" {
				continue
			}
			n++
			if v, dup := seen[tk.Label]; dup {
				t.Errorf("range %v: label %q for both %v and %v", r, tk.Label, v, tk.Value)
			}
			seen[tk.Label] = tk.Value
			assert.NotContains(t, tk.Label, "e+", "range %v: no exponent for %v", r, tk.Value)
		}
		if n < 2 {
			t.Errorf("range %v: %d labelled ticks", r, n)
		}
	}
}
