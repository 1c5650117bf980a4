package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/summary"
)

// figureIDs are the section ids of the figures, in page order.
var figureIDs = []string{"loss", "accuracy", "margins", "logps", "kl-optimal", "frontier"}

// trainingFigures are the figures that need no known optimum.
var trainingFigures = []string{"loss", "accuracy", "margins", "logps"}

func render(t *testing.T, s *summary.Summary) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Render(&b, s))
	return b.Bytes()
}

func parse(t *testing.T, page []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	require.NoError(t, err)
	return doc
}

// findAll returns the nodes under n, in document order, that match.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func element(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == name }
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func withClass(name, class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		return element(name)(n) && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
	}
}

// textOf returns the concatenated text under n.
func textOf(n *html.Node) string {
	var b strings.Builder
	for _, t := range findAll(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}

// sections maps section id to section node.
func sections(t *testing.T, doc *html.Node) map[string]*html.Node {
	t.Helper()
	out := map[string]*html.Node{}
	for _, s := range findAll(doc, element("section")) {
		out[attr(s, "id")] = s
	}
	return out
}

// svgTexts returns the text of the <text> elements of one SVG.
func svgTexts(svg *html.Node) string {
	var parts []string
	for _, n := range findAll(svg, element("text")) {
		parts = append(parts, textOf(n))
	}
	return strings.Join(parts, "\n")
}

// voidElements are the HTML elements without an end tag the page uses.
var voidElements = map[string]bool{"meta": true, "br": true}

// checkBalanced tokenizes page and requires every start tag to be closed by
// a matching end tag, in order.
func checkBalanced(t *testing.T, page []byte) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(page))
	var stack []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			require.ErrorIs(t, z.Err(), io.EOF)
			assert.Empty(t, stack, "unclosed elements at end of page")
			return
		case html.StartTagToken:
			name, _ := z.TagName()
			if !voidElements[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			require.NotEmpty(t, stack, "end tag </%s> without a start tag", name)
			require.Equal(t, stack[len(stack)-1], string(name), "mismatched end tag")
			stack = stack[:len(stack)-1]
		}
	}
}

// checkOffline requires that the page loads nothing: no URL outside xmlns
// attributes, no element that fetches or runs anything, no CSS url().
func checkOffline(t *testing.T, page []byte) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			require.ErrorIs(t, z.Err(), io.EOF)
			return
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			assert.NotContains(t, []string{"script", "link", "img", "iframe", "object", "embed", "image", "use"}, tok.Data)
			for _, a := range tok.Attr {
				if a.Key == "xmlns" || strings.HasPrefix(a.Key, "xmlns:") || a.Namespace == "xmlns" {
					continue
				}
				assert.NotContains(t, a.Val, "://", "attribute %s of <%s>", a.Key, tok.Data)
				assert.NotContains(t, []string{"src", "href", "xlink:href"}, a.Key, "<%s>", tok.Data)
			}
		case html.TextToken, html.CommentToken:
			assert.NotContains(t, tok.Data, "http://")
			assert.NotContains(t, tok.Data, "https://")
			assert.NotContains(t, tok.Data, "url(")
			assert.NotContains(t, tok.Data, "@import")
		}
	}
}

var rawSVG = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// checkSVGWellFormed parses every inline SVG as strict XML.
func checkSVGWellFormed(t *testing.T, page []byte) {
	t.Helper()
	for i, svg := range rawSVG.FindAll(page, -1) {
		d := xml.NewDecoder(bytes.NewReader(svg))
		d.Strict = true
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "svg %d is not well-formed XML", i)
		}
	}
}

func labels(s *summary.Summary) []string {
	var out []string
	for _, o := range s.Objectives {
		out = append(out, label(o))
	}
	return out
}

// tableRows returns the label and cell texts of the final table's body rows
// and the header texts.
func tableRows(t *testing.T, doc *html.Node) (head []string, rows [][]string) {
	t.Helper()
	tables := findAll(doc, element("table"))
	require.Len(t, tables, 1)
	for _, th := range findAll(findAll(tables[0], element("thead"))[0], element("th")) {
		head = append(head, textOf(th))
	}
	for _, tr := range findAll(findAll(tables[0], element("tbody"))[0], element("tr")) {
		lab := findAll(tr, withClass("span", "label"))
		require.Len(t, lab, 1)
		row := []string{textOf(lab[0])}
		for _, td := range findAll(tr, element("td")) {
			row = append(row, textOf(td))
		}
		rows = append(rows, row)
	}
	return head, rows
}

func columnIndex(t *testing.T, head []string, prefix string) int {
	t.Helper()
	for i, h := range head {
		if strings.HasPrefix(h, prefix) {
			return i
		}
	}
	require.Failf(t, "no column", "no column %q in %q", prefix, head)
	return -1
}

func TestRenderExact(t *testing.T) {
	s := fixture()
	page := render(t, s)
	doc := parse(t, page)

	t.Run("structure", func(t *testing.T) {
		checkPage(t, page)
		require.True(t, bytes.HasPrefix(page, []byte("<!DOCTYPE html>")))
		assert.Len(t, findAll(doc, element("h1")), 1)
		assert.Len(t, findAll(doc, element("title")), 1)
		assert.Contains(t, textOf(findAll(doc, element("header"))[0]), "π*_β(y|x) = π_ref(y|x)·exp(r*(x, y)/β)/Z_β(x)")
	})

	t.Run("one svg per figure", func(t *testing.T) {
		assert.Len(t, findAll(doc, element("svg")), len(figureIDs))
		secs := sections(t, doc)
		for _, id := range figureIDs {
			require.Contains(t, secs, id)
			assert.Len(t, findAll(secs[id], element("svg")), 1, id)
			assert.Empty(t, findAll(secs[id], withClass("p", "missing")), id)
		}
	})

	t.Run("every label in every plot and the table", func(t *testing.T) {
		secs := sections(t, doc)
		for _, id := range figureIDs {
			texts := svgTexts(findAll(secs[id], element("svg"))[0])
			for _, l := range labels(s) {
				assert.Contains(t, texts, l, "figure %s", id)
			}
		}
		_, rows := tableRows(t, doc)
		var got []string
		for _, r := range rows {
			got = append(got, r[0])
		}
		for _, l := range labels(s) {
			assert.Contains(t, got, l)
		}
	})

	t.Run("reference line and optimum marked", func(t *testing.T) {
		secs := sections(t, doc)
		assert.Contains(t, svgTexts(findAll(secs["kl-optimal"], element("svg"))[0]), "π_ref")
		front := svgTexts(findAll(secs["frontier"], element("svg"))[0])
		assert.Contains(t, front, "π*_β, β = 0.5")
		assert.Contains(t, front, "exact frontier")
		n := strings.Count(front, "β′=")
		assert.True(t, n >= 2 && n <= maxBetaLabels, "frontier has %d β′ labels, want 2..%d", n, maxBetaLabels)
	})

	t.Run("table sorted by KL to optimum", func(t *testing.T) {
		type entry struct {
			label string
			kl    float64
		}
		want := []entry{
			{"π_ref (reference)", s.Reference[keyKLOpt]},
			{"π*_β (optimum, β = 0.5)", s.Optimal[keyKLOpt]},
		}
		for _, o := range s.Objectives {
			want = append(want, entry{o.Label, o.Final[keyKLOpt]})
		}
		sort.Slice(want, func(i, j int) bool { return want[i].kl < want[j].kl })
		head, rows := tableRows(t, doc)
		require.Len(t, rows, len(want))
		col := columnIndex(t, head, "KL(π‖π*_β)") // head starts with "policy", rows with the label
		prev := math.Inf(-1)
		for i, r := range rows {
			assert.Equal(t, want[i].label, r[0], "row %d", i)
			v, err := strconv.ParseFloat(r[col], 64)
			require.NoError(t, err, "row %d KL cell %q", i, r[col])
			assert.GreaterOrEqual(t, v, prev, "row %d", i)
			prev = v
		}
	})

	t.Run("offline", func(t *testing.T) { checkOffline(t, page) })

	t.Run("text escaped", func(t *testing.T) {
		assert.NotContains(t, strings.ToLower(string(page)), "<script")
		for i, svg := range rawSVG.FindAll(page, -1) {
			assert.Contains(t, string(svg), "SimPO &lt;script&gt;alert(1)&lt;/script&gt;", "svg %d", i)
		}
		assert.Contains(t, string(page), `<span class="label">SimPO &lt;script&gt;alert(1)&lt;/script&gt;</span>`)
	})
}

func TestRenderWithoutExactMetrics(t *testing.T) {
	s := withoutExact(fixture())
	page := render(t, s)
	doc := parse(t, page)
	checkBalanced(t, page)
	checkSVGWellFormed(t, page)
	checkOffline(t, page)

	secs := sections(t, doc)
	drawn := trainingFigures
	missing := map[string]string{"kl-optimal": `"kl_to_optimal"`, "frontier": `"expected_reward"`}
	assert.Len(t, findAll(doc, element("svg")), len(drawn))
	for _, id := range drawn {
		svgs := findAll(secs[id], element("svg"))
		require.Len(t, svgs, 1, id)
		for _, l := range labels(s) {
			assert.Contains(t, svgTexts(svgs[0]), l, "figure %s", id)
		}
	}
	for id, why := range missing {
		require.Contains(t, secs, id)
		assert.Empty(t, findAll(secs[id], element("svg")), id)
		notes := findAll(secs[id], withClass("p", "missing"))
		require.Len(t, notes, 1, id)
		assert.Contains(t, textOf(notes[0]), why, id)
		assert.Contains(t, textOf(notes[0]), "known", id)
		assert.True(t, strings.HasPrefix(textOf(notes[0]), "Cannot be computed on this data"), id)
	}
	assert.Contains(t, textOf(findAll(doc, element("header"))[0]), "no known reward")

	head, rows := tableRows(t, doc)
	for _, h := range head {
		assert.NotContains(t, h, "KL")
	}
	require.Len(t, rows, len(s.Objectives), "no reference or optimum row without their metrics")
	for i, r := range rows {
		assert.Equal(t, label(s.Objectives[i]), r[0], "rows keep the run order")
	}
}

func TestRenderNonFinite(t *testing.T) {
	s := fixture()
	dpo := &s.Objectives[0]
	dpo.Train[2].Values[keyLoss] = math.NaN()
	dpo.History[1].Values[keyKLOpt] = math.Inf(1)
	dpo.History[2].Values[keyReward] = math.NaN()
	dpo.Final[keyKLOpt] = math.NaN()
	page := render(t, s)
	doc := parse(t, page)
	secs := sections(t, doc)
	for _, id := range []string{"loss", "kl-optimal", "frontier"} {
		caps := findAll(secs[id], element("figcaption"))
		require.Len(t, caps, 1, id)
		assert.Contains(t, textOf(caps[0]), "One non-finite value (NaN or ±Inf) is left out.", id)
	}
	_, rows := tableRows(t, doc)
	last := rows[len(rows)-1]
	assert.Equal(t, "DPO", last[0], "a NaN KL sorts after every finite one")
	assert.Contains(t, last, "NaN")
}

func TestRenderDeterministic(t *testing.T) {
	a := render(t, fixture())
	b := render(t, fixture())
	assert.True(t, bytes.Equal(a, b), "two renders of one summary differ")
}

type failWriter struct{ n int }

var errSink = errors.New("sink full")

func (w *failWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return 0, errSink
}

func TestRenderErrors(t *testing.T) {
	var b bytes.Buffer
	err := Render(&b, nil)
	require.Error(t, err)
	assert.Equal(t, "report: nil summary", err.Error())
	assert.Zero(t, b.Len(), "nothing written on error")

	w := &failWriter{}
	err = Render(w, fixture())
	assert.ErrorIs(t, err, errSink)
	assert.True(t, strings.HasPrefix(err.Error(), "report: "), err.Error())
}

func TestRenderNoObjectives(t *testing.T) {
	s := &summary.Summary{Experiment: "empty", Reference: map[string]float64{}}
	page := render(t, s)
	doc := parse(t, page)
	checkBalanced(t, page)
	assert.Empty(t, findAll(doc, element("svg")))
	secs := sections(t, doc)
	for _, id := range figureIDs {
		assert.Len(t, findAll(secs[id], withClass("p", "missing")), 1, id)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteAtomic(t *testing.T) {
	want := render(t, fixture())
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string // returns the target path
		s       *summary.Summary
		wantErr bool
		check   func(t *testing.T, dir, path string)
	}{
		{
			name:  "new file",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "report.html") },
			s:     fixture(),
			check: func(t *testing.T, dir, path string) {
				got, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(want, got), "file differs from Render's output")
				assert.Equal(t, []string{"report.html"}, dirNames(t, dir))
				fi, err := os.Stat(path)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
			},
		},
		{
			name: "replaces an old file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "report.html")
				require.NoError(t, os.WriteFile(p, []byte("old"), 0o644))
				return p
			},
			s: fixture(),
			check: func(t *testing.T, dir, path string) {
				got, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(want, got))
				assert.Equal(t, []string{"report.html"}, dirNames(t, dir))
			},
		},
		{
			name: "render error keeps the old file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "report.html")
				require.NoError(t, os.WriteFile(p, []byte("old"), 0o644))
				return p
			},
			s:       nil,
			wantErr: true,
			check: func(t *testing.T, dir, path string) {
				got, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, "old", string(got))
				assert.Equal(t, []string{"report.html"}, dirNames(t, dir))
			},
		},
		{
			name: "rename error leaves no temporary file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "report.html")
				require.NoError(t, os.Mkdir(p, 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(p, "keep"), []byte("x"), 0o644))
				return p
			},
			s:       fixture(),
			wantErr: true,
			check: func(t *testing.T, dir, path string) {
				assert.Equal(t, []string{"report.html"}, dirNames(t, dir))
				assert.Equal(t, []string{"keep"}, dirNames(t, path))
			},
		},
		{
			name:    "missing directory",
			setup:   func(t *testing.T, dir string) string { return filepath.Join(dir, "absent", "report.html") },
			s:       fixture(),
			wantErr: true,
			check: func(t *testing.T, dir, path string) {
				assert.Empty(t, dirNames(t, dir))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			err := Write(path, tc.s)
			if tc.wantErr {
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), "report: "), err.Error())
			} else {
				require.NoError(t, err)
			}
			tc.check(t, dir, path)
		})
	}
}

func TestRenderPartialLogs(t *testing.T) {
	s := fixture()
	kto, ipo, orpo := &s.Objectives[2], &s.Objectives[1], &s.Objectives[3]
	kto.Train = nil
	for _, h := range kto.History {
		delete(h.Values, keyEvalLoss)
	}
	for _, h := range ipo.History {
		delete(h.Values, keyEvalAcc)
	}
	delete(ipo.Final, keyImplicitAcc)
	for _, h := range orpo.History {
		delete(h.Values, keyKLOpt)
	}
	doc := parse(t, render(t, s))
	secs := sections(t, doc)
	tests := []struct{ figure, want string }{
		{"loss", "no loss logged"},
		{"accuracy", "IPO (not logged)"},
		{"kl-optimal", "ORPO (not logged)"},
	}
	for _, tc := range tests {
		t.Run(tc.figure, func(t *testing.T) {
			svgs := findAll(secs[tc.figure], element("svg"))
			require.Len(t, svgs, 1)
			assert.Contains(t, svgTexts(svgs[0]), tc.want)
		})
	}
}

// TestRenderTrainingOnly renders a run on data files without a held-out
// split, as examples/compare.toml records it: every figure whose data exists
// is drawn, the two that need a known optimum say they cannot be computed,
// and the table has the terminal's columns.
func TestRenderTrainingOnly(t *testing.T) {
	s := trainingOnly(fixture())
	page := render(t, s)
	doc := parse(t, page)
	checkBalanced(t, page)
	checkSVGWellFormed(t, page)
	secs := sections(t, doc)
	for _, id := range trainingFigures {
		require.Contains(t, secs, id)
		assert.NotContains(t, textOf(secs[id]), "Not shown", id)
		svgs := findAll(secs[id], element("svg"))
		require.Len(t, svgs, 1, id)
		for _, l := range labels(s) {
			assert.Contains(t, svgTexts(svgs[0]), l, "figure %s", id)
		}
		assert.Contains(t, svgTexts(svgs[0]), epochLabel, id)
	}
	for _, id := range []string{"accuracy", "margins", "logps"} {
		assert.Contains(t, textOf(findAll(secs[id], element("figcaption"))[0]), "training batches", id)
	}
	assert.Contains(t, svgTexts(findAll(secs["accuracy"], element("svg"))[0]), "KTO (not logged)")
	for _, id := range []string{"kl-optimal", "frontier"} {
		assert.Contains(t, textOf(secs[id]), "Cannot be computed on this data", id)
	}
	head, rows := tableRows(t, doc)
	assert.Equal(t, []string{"policy", "train losslast logged", "steps", "wall timeseconds"}, head)
	require.Len(t, rows, len(s.Objectives))
	for i, r := range rows {
		want := number(s.Objectives[i].Final[metric.TrainLoss])
		assert.Equal(t, want, r[1], "row %d", i)
	}
	caption := textOf(findAll(secs["final"], withClass("p", "caption"))[0])
	assert.NotContains(t, caption, "accurac")
	assert.Contains(t, caption, "Losses are each objective's own")
}

// TestTableColumnsMatchTerminal checks that the page's table has a column
// for every metric column some row has, in Columns order, as the terminal
// table does, with π_ref's tied accuracies as "–*" and the footnote.
func TestTableColumnsMatchTerminal(t *testing.T) {
	s := fixture()
	doc := parse(t, render(t, s))
	head, rows := tableRows(t, doc)
	var want []string
	for _, c := range Columns {
		var vals []float64
		for _, m := range append([]map[string]float64{s.Reference, s.Optimal}, finals(s)...) {
			if v, ok := m[c.Key]; ok {
				vals = append(vals, v)
			}
		}
		if KeepColumn(c.Key, vals) {
			want = append(want, c.Name+c.Unit)
		}
	}
	want = append([]string{"policy"}, want...)
	want = append(want, "steps", "wall timeseconds")
	assert.Equal(t, want, head)

	var ref []string
	for _, r := range rows {
		if r[0] == "π_ref (reference)" {
			ref = r
		}
	}
	require.NotNil(t, ref)
	for _, c := range Columns {
		i := slices.Index(head, c.Name+c.Unit)
		if i < 0 {
			continue
		}
		if TiedForReference(c.Key) {
			assert.Equal(t, dash+"*", ref[i], c.Name)
		} else if _, ok := s.Reference[c.Key]; ok {
			assert.Equal(t, c.Format(s.Reference[c.Key]), ref[i], c.Name)
		}
	}
	notes := findAll(doc, withClass("p", "note"))
	require.Len(t, notes, 1)
	assert.Equal(t, "* "+TieNote, textOf(notes[0]))
}

// TestTableInScrollBox checks that the table sits in its own horizontally
// scrolling box, so a wide table never widens the page.
func TestTableInScrollBox(t *testing.T) {
	doc := parse(t, render(t, fixture()))
	tables := findAll(doc, element("table"))
	require.Len(t, tables, 1)
	box := tables[0].Parent
	require.True(t, withClass("div", "scroll")(box), "the table's parent is <%s class=%q>", box.Data, attr(box, "class"))
	assert.Regexp(t, `\.scroll\{[^}]*overflow-x:auto`, string(pageCSS()))
}

// TestAccuracyFigure checks the accuracy figure against examples seen: the
// all-tie start of ratio objectives is left out, the unpaired objective
// shows its final ring only, and the y range is fitted to the data.
func TestAccuracyFigure(t *testing.T) {
	s := fixture()
	f, err := accuracyFigure(s, looksOf(s))
	require.NoError(t, err)
	assert.Contains(t, f.Caption, "every pair is a tie")
	assert.Contains(t, f.Caption, "KTO: trained on unpaired examples")
	doc := parse(t, []byte(f.SVG))
	texts := svgTexts(findAll(doc, element("svg"))[0])
	assert.Contains(t, texts, "KTO (final only)")
	assert.Contains(t, texts, epochLabel)
	assert.Contains(t, texts, "chance (0.5)")
	assert.NotContains(t, texts, "0.0\n", "no tick at 0: the range is fitted, not 0–1")

	// Without the tie (a margin that is not 0), the caption says nothing.
	for i := range s.Objectives {
		for _, h := range s.Objectives[i].History {
			delete(h.Values, metric.EvalPrefix+metric.RewardsMargins)
		}
	}
	f, err = accuracyFigure(s, looksOf(s))
	require.NoError(t, err)
	assert.NotContains(t, f.Caption, "every pair is a tie")
}

func TestAllTies(t *testing.T) {
	acc, mar := metric.EvalRewardsAccuracies, metric.EvalPrefix+metric.RewardsMargins
	pt := func(a, m float64) summary.Point { return summary.Point{Values: map[string]float64{acc: a, mar: m}} }
	assert.True(t, allTies(pt(0, 0), acc, mar))
	assert.False(t, allTies(pt(0, -0.1), acc, mar), "all pairs wrong, not tied")
	assert.False(t, allTies(pt(0.5, 0), acc, mar), "a mean margin of 0 with some right")
	assert.False(t, allTies(summary.Point{Values: map[string]float64{acc: 0}}, acc, mar), "no margin logged")
}

// TestFrontierCurveFromReference checks that the drawn frontier starts at
// π_ref (KL 0), whether or not the summary carries the β′ → ∞ point.
func TestFrontierCurveFromReference(t *testing.T) {
	s := fixture()
	front, kept := frontierCurve(s, 10)
	require.NotEmpty(t, front)
	assert.Equal(t, 0.0, front[0].X)
	assert.Equal(t, s.Reference[keyReward], front[0].Y)
	assert.Len(t, front, len(kept.XYs)+1, "π_ref added before the β′ points")

	s.Frontier = append(s.Frontier, summary.FrontierPoint{Beta: math.MaxFloat64, KLToReference: -1e-17,
		ExpectedReward: s.Reference[keyReward]})
	front2, _ := frontierCurve(s, 10)
	assert.Len(t, front2, len(front), "a summary's own KL-0 point is not doubled")

	lb := spreadLabels(kept, maxBetaLabels)
	assert.LessOrEqual(t, len(lb.XYs), maxBetaLabels)
	for _, b := range lb.Betas {
		assert.LessOrEqual(t, b, labelBetaMax)
	}
}

// TestLooksDistinct checks that every objective of a large comparison has
// its own colour, marker and dash pattern combination.
func TestLooksDistinct(t *testing.T) {
	s := &summary.Summary{}
	for i := range 40 {
		s.Objectives = append(s.Objectives, summary.Objective{Label: strconv.Itoa(i)})
	}
	seen := map[string]int{}
	for i, l := range looksOf(s) {
		key := fmt.Sprint(l.Color, l.Shape, l.Dashes)
		if j, dup := seen[key]; dup {
			t.Errorf("objectives %d and %d look the same", j, i)
		}
		seen[key] = i
	}
	colours := map[any]bool{}
	for _, l := range looksOf(s)[:len(palette)] {
		colours[l.Color] = true
	}
	assert.Len(t, colours, len(palette), "the first %d objectives have distinct colours", len(palette))
}

// TestXAxis checks the choice of the curves' x axis: epochs put the unpaired
// objective's last evaluation (twice the examples of the others) at the same
// x as theirs; without epochs the axis falls back to examples, then steps.
func TestXAxis(t *testing.T) {
	dropEpoch := func(s *summary.Summary) {
		delete(s.Objectives[1].Train[0].Values, metric.Epoch)
	}
	dropExamples := func(s *summary.Summary) {
		dropEpoch(s)
		delete(s.Objectives[0].History[0].Values, metric.ExamplesSeen)
	}
	tests := []struct {
		name   string
		edit   func(*summary.Summary)
		label  string
		aligns bool // every objective's last evaluation at one x
	}{
		{"epochs", func(*summary.Summary) {}, epochLabel, true},
		{"one line without epoch", dropEpoch, examplesLabel, false},
		{"a point without examples", dropExamples, "step", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fixture()
			tc.edit(s)
			x := xAxisOf(s)
			assert.Equal(t, tc.label, x.label)
			var last []float64
			for _, o := range s.Objectives {
				last = append(last, x.bind(o).of(o.History[len(o.History)-1]))
			}
			for i := range last {
				if tc.aligns {
					assert.Equal(t, last[0], last[i], "objective %d", i)
				}
			}
			if !tc.aligns {
				assert.Equal(t, 2*last[0], last[2], "KTO counts two examples per pair")
			}
		})
	}
	s := fixture()
	x := xAxisOf(s)
	assert.InDelta(t, 1.0, x.bind(s.Objectives[2]).of(s.Objectives[2].History[len(s.Objectives[2].History)-1]), 1e-12,
		"the last evaluation is after one epoch")
	assert.Contains(t, xSentence(x), "epochs")
}

// checkPage runs the structural checks every page passes.
func checkPage(t *testing.T, page []byte) {
	t.Helper()
	checkBalanced(t, page)
	checkSVGWellFormed(t, page)
	checkOffline(t, page)
	checkPlotBoxes(t, parse(t, page))
}

// checkPlotBoxes requires every plot to sit in its own horizontally
// scrolling box, so that on a narrow screen it keeps a legible size.
func checkPlotBoxes(t *testing.T, doc *html.Node) {
	t.Helper()
	for _, svg := range findAll(doc, element("svg")) {
		assert.True(t, withClass("div", "plotbox")(svg.Parent), "plot %q is not in a .plotbox", attr(svg, "aria-label"))
	}
	assert.Regexp(t, `\.plotbox\{[^}]*overflow-x:auto`, string(pageCSS()))
	assert.Regexp(t, `svg\.plot\{[^}]*min-width:`, string(pageCSS()))
}

// TestRenderOneSeedAsBefore checks that a summary of one seed renders the
// same bytes whether or not it lists its seed and per-label statistics:
// the figures and table of several seeds and of sweeps appear only for them.
func TestRenderOneSeedAsBefore(t *testing.T) {
	plain := render(t, fixture())
	s := multiSeedFixture(fixtureObjectives, 7)
	require.Len(t, s.Seeds, 1)
	require.NotEmpty(t, s.Aggregates)
	assert.True(t, bytes.Equal(plain, render(t, s)), "a summary with Seeds [7] and Aggregates renders differently")
	doc := parse(t, plain)
	secs := sections(t, doc)
	for _, id := range []string{"seeds", "sweeps", "sweep-shortfall"} {
		assert.NotContains(t, secs, id)
	}
	assert.NotContains(t, string(plain), "±")
	assert.NotContains(t, textOf(findAll(doc, element("header"))[0]), "seeds")
}

// seedMean is the mean over seeds of label's final key, computed here from
// the per-seed results.
func seedMean(s *summary.Summary, label, key string) (mean float64, n int) {
	for _, o := range s.Objectives {
		if o.Label == label {
			mean += o.Final[key]
			n++
		}
	}
	return mean / float64(n), n
}

func TestRenderMultiSeed(t *testing.T) {
	s := multiSeedFixture(fixtureObjectives, 1, 2, 3)
	page := render(t, s)
	checkPage(t, page)
	doc := parse(t, page)
	secs := sections(t, doc)

	t.Run("figures", func(t *testing.T) {
		for _, id := range append(slices.Clone(figureIDs), "seeds") {
			require.Contains(t, secs, id)
			assert.Len(t, findAll(secs[id], element("svg")), 1, id)
		}
		seeds := svgTexts(findAll(secs["seeds"], element("svg"))[0])
		for _, want := range append(labels(fixture()), "π_ref", "π*_β", "one seed", "mean", "95% t-interval",
			"final KL(π‖π*_β) (nats)", "final expected reward E[r*]") {
			assert.Contains(t, seeds, want)
		}
		assert.Contains(t, textOf(findAll(secs["seeds"], element("figcaption"))[0]), "3 seeds (1, 2, 3)")
	})

	t.Run("curves show the first seed", func(t *testing.T) {
		loss := svgTexts(findAll(secs["loss"], element("svg"))[0])
		for _, l := range labels(fixture()) {
			assert.Equal(t, 1, strings.Count(loss, l+"\n"), "one loss panel of %s", l)
		}
		header := textOf(findAll(doc, element("header"))[0])
		assert.Contains(t, header, "curves: seed 1")
		assert.Contains(t, header, "The curves show the first seed, 1, alone")
	})

	t.Run("table of means and intervals", func(t *testing.T) {
		head, rows := tableRows(t, doc)
		require.Len(t, rows, len(fixtureObjectives)+2)
		col := columnIndex(t, head, "KL(π‖π*_β)")
		assert.Contains(t, head, "mean wall timeseconds")
		prev := math.Inf(-1)
		for _, r := range rows {
			mean, hw, ok := strings.Cut(r[col], "± ") // the half-width is on a line of its own
			m, err := strconv.ParseFloat(mean, 64)
			require.NoError(t, err, r[col])
			assert.GreaterOrEqual(t, m, prev, "sorted by mean KL")
			prev = m
			if strings.HasPrefix(r[0], "π*_β") {
				assert.False(t, ok, "the optimum's KL to itself is 0 on every seed: %q", r[col])
				continue
			}
			require.True(t, ok, "%s: %q has no ±", r[0], r[col])
			h, err := strconv.ParseFloat(hw, 64)
			require.NoError(t, err)
			assert.Greater(t, h, 0.0)
			if !strings.HasPrefix(r[0], "π_ref") {
				want, n := seedMean(s, r[0], keyKLOpt)
				assert.Equal(t, 3, n)
				assert.Equal(t, number(want), mean, r[0])
			}
		}
		caption := textOf(findAll(secs["final"], withClass("p", "caption"))[0])
		assert.Contains(t, caption, "95% t-interval over 3 seeds (1, 2, 3)")
	})
}

func TestRenderSweep(t *testing.T) {
	for _, seeds := range [][]uint64{{7}, {1, 2, 3}} {
		t.Run(fmt.Sprintf("%d seeds", len(seeds)), func(t *testing.T) {
			s := multiSeedFixture(sweepObjectives(), seeds...)
			page := render(t, s)
			checkPage(t, page)
			doc := parse(t, page)
			secs := sections(t, doc)
			for _, id := range append(slices.Clone(figureIDs), "sweeps", "sweep-shortfall") {
				require.Contains(t, secs, id)
				require.Len(t, findAll(secs[id], element("svg")), 1, id)
			}
			require.Contains(t, secs, "final")
			require.Len(t, findAll(secs["final"], element("table")), 1)
			assert.Equal(t, len(seeds) > 1, secs["seeds"] != nil, "the seeds figure only for several seeds")
			sw := svgTexts(findAll(secs["sweeps"], element("svg"))[0])
			for _, want := range []string{"β=0.05", "β=0.1", "β=0.2", "β=0.5", "β=1", "τ=0.1", "τ=0.3", "τ=1",
				"dpo, β swept", "ipo, τ swept", "KTO", "exact frontier", "π_ref", "π*_β, β = 0.5"} {
				assert.Contains(t, sw, want)
			}
			sf := svgTexts(findAll(secs["sweep-shortfall"], element("svg"))[0])
			for _, want := range []string{"dpo, β swept", "ipo, τ swept", "β (beta)", "τ (tau)", "on the frontier (0)"} {
				assert.Contains(t, sf, want)
			}
			head, _ := tableRows(t, doc)
			columnIndex(t, head, "frontier shortfall")
		})
	}
}

// TestSweepGroups checks that members are ordered by their swept value:
// numerically when every value is a number (as JSON reads them back or as
// Go ints), else as listed; and that groups get colours of their own.
func TestSweepGroups(t *testing.T) {
	s := &summary.Summary{Aggregates: []summary.Aggregate{
		{Label: "dpo/beta=0.5", Group: "dpo", SweepParam: "beta", SweepValue: 0.5},
		{Label: "kto", Name: "kto"},
		{Label: "dpo/beta=0.05", Group: "dpo", SweepParam: "beta", SweepValue: 0.05},
		{Label: "dpo/beta=1", Group: "dpo", SweepParam: "beta", SweepValue: 1},
		{Label: "ipo/loss=b", Group: "ipo", SweepParam: "loss", SweepValue: "b"},
		{Label: "ipo/loss=a", Group: "ipo", SweepParam: "loss", SweepValue: "a"},
		{Label: "simpo/gamma=2", Group: "simpo", SweepParam: "gamma", SweepValue: json.Number("2")},
		{Label: "simpo/gamma=10", Group: "simpo", SweepParam: "gamma", SweepValue: json.Number("10")},
	}}
	by := lookMap(s)
	gs := sweepGroups(s, by)
	require.Len(t, gs, 3)
	order := func(g sweepGroup) []string {
		var out []string
		for _, m := range g.Members {
			out = append(out, m.Label)
		}
		return out
	}
	assert.Equal(t, []string{"dpo/beta=0.05", "dpo/beta=0.5", "dpo/beta=1"}, order(gs[0]))
	assert.Equal(t, []float64{0.05, 0.5, 1}, gs[0].Values)
	assert.Equal(t, []string{"ipo/loss=b", "ipo/loss=a"}, order(gs[1]), "strings keep the listed order")
	assert.False(t, gs[1].Numeric)
	assert.Equal(t, []string{"simpo/gamma=2", "simpo/gamma=10"}, order(gs[2]), "2 < 10 as numbers")
	colours := map[any]bool{by["kto"].Color: true}
	for _, g := range gs {
		assert.False(t, colours[g.Look.Color], "group %s shares a colour", g.Name)
		colours[g.Look.Color] = true
	}
	assert.Equal(t, "β=0.05", valueLabel("beta", 0.05))
	assert.Equal(t, "loss=sigmoid", valueLabel("loss", "sigmoid"))
}

// TestTrajectoryView checks which objectives the curves of several seeds
// show: the first seed's, or the first of each label when the objectives
// do not record their seed.
func TestTrajectoryView(t *testing.T) {
	s := multiSeedFixture(fixtureObjectives, 4, 5)
	v := trajectoryView(s)
	require.Len(t, v.Objectives, len(fixtureObjectives))
	for _, o := range v.Objectives {
		assert.Equal(t, uint64(4), o.Seed)
	}
	for i := range s.Objectives {
		s.Objectives[i].Seed = 0
	}
	v = trajectoryView(s)
	require.Len(t, v.Objectives, len(fixtureObjectives))
	assert.Equal(t, labels(fixture()), labels(v))
	assert.Equal(t, s.Objectives[0].Final, v.Objectives[0].Final, "the first of each label")
}

// TestRenderSweepWithoutExactMetrics checks that the sweep figures of data
// without a known optimum say why they are missing.
func TestRenderSweepWithoutExactMetrics(t *testing.T) {
	s := withoutExact(fixtureFor(7, sweepObjectives()))
	page := render(t, s)
	checkPage(t, page)
	secs := sections(t, parse(t, page))
	for _, id := range []string{"sweeps", "sweep-shortfall"} {
		require.Contains(t, secs, id)
		assert.Empty(t, findAll(secs[id], element("svg")), id)
		notes := findAll(secs[id], withClass("p", "missing"))
		require.Len(t, notes, 1, id)
		assert.Contains(t, textOf(notes[0]), "known exactly", id)
	}
}

func finals(s *summary.Summary) []map[string]float64 {
	var out []map[string]float64
	for _, o := range s.Objectives {
		out = append(out, o.Final)
	}
	return out
}
