package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/summary"
)

// boardFixture is a leaderboard of three scenarios of the fixture's
// objectives over seeds 1, 2, 3; the last scenario does not train ORPO.
// Best is chosen here by its definition: the lowest mean, and every label
// whose interval overlaps that one's.
func boardFixture() *summary.Leaderboard {
	l := &summary.Leaderboard{Metric: metric.KLToOptimal, LowerIsBetter: true, Seeds: []uint64{1, 2, 3}, WallSeconds: 3725}
	claims := []struct{ name, claim, dir string }{
		{"baseline", "All objectives approach π*_β on clean Bradley–Terry labels.", "baseline"},
		{"noisy-labels", "IPO's bounded margin <resists> label noise & overfitting.", "noisy labels"},
		{"no-orpo", "Without ORPO; the sweep scenario of the suite.", "runs/no-orpo"},
	}
	for k, c := range claims {
		objs := fixtureObjectives
		if k == 2 {
			objs = append(append([]fixtureObjective(nil), objs[:3]...), objs[4])
		}
		seeds := []uint64{uint64(1 + 10*k), uint64(2 + 10*k), uint64(3 + 10*k)}
		s := multiSeedFixture(objs, seeds...)
		sc := summary.Scenario{Name: c.name, Claim: c.claim, Dir: c.dir, Cells: map[string]summary.Stat{},
			Reference: s.ReferenceStats[metric.KLToOptimal], Optimal: s.OptimalStats[metric.KLToOptimal]}
		best := ""
		for _, a := range s.Aggregates {
			sc.Cells[a.Label] = a.Metrics[metric.KLToOptimal]
			if best == "" || sc.Cells[a.Label].Mean < sc.Cells[best].Mean {
				best = a.Label
			}
		}
		for lab, st := range sc.Cells {
			if st.Lo <= sc.Cells[best].Hi {
				sc.Best = append(sc.Best, lab)
			}
		}
		l.Scenarios = append(l.Scenarios, sc)
	}
	return l
}

func renderBoard(t *testing.T, l *summary.Leaderboard) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, RenderLeaderboard(&b, l))
	return b.Bytes()
}

func TestRenderLeaderboard(t *testing.T) {
	l := boardFixture()
	page := renderBoard(t, l)
	checkBalanced(t, page)
	doc := parse(t, page)
	col := metricColumn(l.Metric)

	tables := findAll(doc, element("table"))
	require.Len(t, tables, 1)
	require.True(t, withClass("div", "scroll")(tables[0].Parent), "the table scrolls in its own box")

	heads := findAll(findAll(tables[0], element("thead"))[0], element("th"))
	require.Len(t, heads, 1+len(l.Scenarios))
	for i, sc := range l.Scenarios {
		h := heads[i+1]
		assert.Equal(t, sc.Name, textOf(h))
		assert.Equal(t, sc.Claim, attr(h, "title"), "the claim is the heading's tooltip")
		links := findAll(h, element("a"))
		require.Len(t, links, 1)
		assert.Equal(t, filepath.ToSlash(filepath.Join(sc.Dir, "report.html")), strings.ReplaceAll(attr(links[0], "href"), "%20", " "))
	}

	rows := findAll(findAll(tables[0], element("tbody"))[0], element("tr"))
	labelsSeen := map[string]bool{}
	for _, o := range fixtureObjectives {
		labelsSeen[o.label] = false
	}
	require.Len(t, rows, 2+len(fixtureObjectives))
	assert.Equal(t, "reference", attr(rows[0], "class"))
	assert.Equal(t, "optimum", attr(rows[1], "class"))
	for _, tr := range rows[2:] {
		lab := textOf(findAll(tr, withClass("span", "label"))[0])
		_, known := labelsSeen[lab]
		require.True(t, known, lab)
		labelsSeen[lab] = true
		cells := findAll(tr, element("td"))
		require.Len(t, cells, len(l.Scenarios))
		for i, sc := range l.Scenarios {
			st, ok := sc.Cells[lab]
			if !ok {
				assert.Equal(t, dash, textOf(cells[i]), "%s in %s", lab, sc.Name)
				continue
			}
			assert.Equal(t, col.Format(st.Mean)+" ± "+number(st.HalfWidth()), textOf(cells[i]), "%s in %s", lab, sc.Name)
			isBest, isTop := false, true
			for _, b := range sc.Best {
				isBest = isBest || b == lab
			}
			for _, other := range sc.Cells {
				isTop = isTop && st.Mean <= other.Mean
			}
			assert.Equal(t, isBest, withClass("td", "best")(cells[i]), "%s in %s", lab, sc.Name)
			assert.Equal(t, isTop, withClass("td", "top")(cells[i]), "bold: %s in %s", lab, sc.Name)
		}
	}
	for lab, seen := range labelsSeen {
		assert.True(t, seen, "row of %s", lab)
	}
	assert.Len(t, findAll(tables[0], withClass("td", "best")), func() int {
		n := 0
		for _, sc := range l.Scenarios {
			n += len(sc.Best)
		}
		return n
	}())

	text := textOf(doc)
	assert.Contains(t, text, "bold the scenario's lowest mean; shaded its interval overlaps the best one's")
	assert.Len(t, findAll(tables[0], withClass("td", "top")), len(l.Scenarios), "one bold cell per scenario")
	assert.Contains(t, text, "95% t-interval over 3 seeds")
	assert.Contains(t, text, "1 h 02 min")
	claims := findAll(doc, func(n *html.Node) bool { return element("ul")(n) && attr(n, "class") == "claims" })
	require.Len(t, claims, 1)
	items := findAll(claims[0], element("li"))
	require.Len(t, items, len(l.Scenarios))
	for i, sc := range l.Scenarios {
		assert.Equal(t, sc.Name+": "+sc.Claim, textOf(items[i]))
	}
	assert.Contains(t, string(page), "IPO&#39;s bounded margin &lt;resists&gt; label noise &amp; overfitting.")
	assert.NotContains(t, string(page), "<script")
	assert.NotContains(t, string(page), "://")
	assert.Regexp(t, `td\.top\{[^}]*font-weight:700[^}]*background:`, string(leaderboardCSS()))
}

func TestBoardOrderAndHigherIsBetter(t *testing.T) {
	l := &summary.Leaderboard{Metric: "win_rate", Seeds: []uint64{1}, Scenarios: []summary.Scenario{
		{Name: "a", Cells: map[string]summary.Stat{"x": summary.NewStat([]float64{0.2}), "y": summary.NewStat([]float64{0.9}),
			"z": summary.NewStat([]float64{0.5})}, Best: []string{"y"}},
		{Name: "b", Cells: map[string]summary.Stat{"x": summary.NewStat([]float64{0.1}), "y": summary.NewStat([]float64{0.8})}, Best: []string{"y"}},
	}}
	assert.Equal(t, []string{"y", "z", "x"}, boardLabels(l), "mean ranks 1, 2, 2.5")
	l.LowerIsBetter = true
	assert.Equal(t, []string{"x", "z", "y"}, boardLabels(l), "mean ranks 1, 2, 2.5")
	l.LowerIsBetter = false
	page := renderBoard(t, l)
	text := textOf(parse(t, page))
	assert.Contains(t, text, "the scenario's highest mean")
	assert.Contains(t, text, "win_rate, higher is better")
	assert.Contains(t, text, "no interval is known")
	assert.NotContains(t, text, "π_ref", "no reference row without its values")
}

func TestPrintLeaderboard(t *testing.T) {
	l := boardFixture()
	var b bytes.Buffer
	require.NoError(t, PrintLeaderboard(&b, l))
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	require.Len(t, lines, 1+2+len(fixtureObjectives)+2)
	for _, sc := range l.Scenarios {
		assert.Contains(t, lines[0], sc.Name)
	}
	rows := lines[1 : len(lines)-2]
	stars, doubles, want := 0, 0, 0
	for _, line := range rows {
		stars += strings.Count(line, " *")
		doubles += strings.Count(line, " **")
	}
	for _, sc := range l.Scenarios {
		want += len(sc.Best)
	}
	assert.Equal(t, want, stars)
	assert.Equal(t, len(l.Scenarios), doubles, "one best mean per scenario")
	assert.Contains(t, rows[len(rows)-1], "ORPO")
	assert.True(t, strings.HasSuffix(rows[len(rows)-1], dash), "ORPO is not in the last scenario")
	assert.Equal(t, "cells: KL(π‖π*_β) (nats), lower is better; mean ± half-width of the 95% t-interval over 3 seeds", lines[len(lines)-2])
	assert.Equal(t, "** best mean; * "+tiedLegend, lines[len(lines)-1])
}

func TestWriteLeaderboard(t *testing.T) {
	dir := t.TempDir()
	l := boardFixture()
	require.NoError(t, WriteLeaderboard(dir, l))
	got, err := os.ReadFile(filepath.Join(dir, LeaderboardFile))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(renderBoard(t, l), got))
	assert.Equal(t, []string{LeaderboardFile}, dirNames(t, dir))

	err = WriteLeaderboard(filepath.Join(dir, "absent"), l)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "report: "), err.Error())
	err = RenderLeaderboard(&bytes.Buffer{}, nil)
	assert.EqualError(t, err, "report: nil leaderboard")
}
