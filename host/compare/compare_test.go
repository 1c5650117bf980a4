package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/prefopt/prefopt/internal/testexp"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/experiment"
	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/summary"
	"github.com/prefopt/prefopt/host/testbed"
)

func TestMain(m *testing.M) {
	objective.ServeIfAsked() // built-ins re-execute this test binary as their plugin
	os.Exit(m.Run())
}

// tiny is a comparison small enough for a unit test (testexp.Tiny).
var tiny = testexp.Tiny("name = \"tiny\"\nseed = 7", 0)

func runTiny(t *testing.T, jobs int) (*summary.Summary, []byte) {
	t.Helper()
	exp, err := config.Parse([]byte(tiny), "tiny.toml")
	require.NoError(t, err)
	dir := t.TempDir()
	s, err := Run(context.Background(), exp, Options{Dir: dir, Jobs: jobs})
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), "<svg")
	for _, o := range s.Objectives {
		_, err := os.Stat(filepath.Join(dir, o.Label, "metrics.jsonl"))
		assert.NoError(t, err, "metrics.jsonl of %s", o.Label)
		assert.NotEmpty(t, o.Checkpoint, "final checkpoint of %s", o.Label)
	}
	return s, raw
}

// stripTimes removes the wall-clock fields, the only ones allowed to
// differ between runs.
func stripTimes(t *testing.T, raw []byte) []byte {
	t.Helper()
	var s summary.Summary
	require.NoError(t, json.Unmarshal(raw, &s))
	s.WallSeconds = 0
	for i, c := range s.ReferenceCheckpoints {
		s.ReferenceCheckpoints[i] = filepath.Base(c)
	}
	for i := range s.Objectives {
		s.Objectives[i].WallSeconds = 0
		s.Objectives[i].Checkpoint = filepath.Base(s.Objectives[i].Checkpoint)
		for _, p := range s.Objectives[i].Train {
			delete(p.Values, "tokens_per_second")
		}
	}
	out, err := json.Marshal(&s)
	require.NoError(t, err)
	return out
}

func TestSameSeedSameSummary(t *testing.T) {
	s1, raw1 := runTiny(t, 1)
	_, raw2 := runTiny(t, 2)
	assert.True(t, bytes.Equal(stripTimes(t, raw1), stripTimes(t, raw2)),
		"summary.json differs between runs with the same seed (jobs 1 vs 2)")

	require.Len(t, s1.Objectives, 2)
	for _, key := range []string{"expected_reward", "kl_to_reference", "kl_to_optimal", "free_energy_gap", "entropy", "eval_rewards/accuracies"} {
		assert.Contains(t, s1.Reference, key)
		for _, o := range s1.Objectives {
			assert.Contains(t, o.Final, key, "%s final", o.Label)
		}
	}
	// π_ref is its own reference: KL 0, and its gap is β·KL(π_ref‖π*).
	assert.InDelta(t, 0, s1.Reference["kl_to_reference"], 1e-12)
	assert.InDelta(t, s1.Beta*s1.Reference["kl_to_optimal"], s1.Reference["free_energy_gap"], 1e-9)
	assert.InDelta(t, 0, s1.Optimal["kl_to_optimal"], 1e-9)
	// The frontier runs from π_ref (KL 0, π_ref's reward) outward, smooth:
	// KL and reward both increase as β′ decreases.
	require.Len(t, s1.Frontier, FrontierPoints+1)
	assert.InDelta(t, 0, s1.Frontier[0].KLToReference, 1e-12, "β′ → ∞ is π_ref")
	assert.InDelta(t, s1.Reference[metric.ExpectedReward], s1.Frontier[0].ExpectedReward, 1e-9)
	for i := 1; i < len(s1.Frontier); i++ {
		assert.Greater(t, s1.Frontier[i].KLToReference, s1.Frontier[i-1].KLToReference, "KL at %d", i)
		assert.Greater(t, s1.Frontier[i].ExpectedReward, s1.Frontier[i-1].ExpectedReward, "reward at %d", i)
	}
	for _, o := range s1.Objectives {
		assert.Equal(t, 0, o.History[0].Step)
		assert.InDelta(t, s1.Reference["kl_to_optimal"], o.History[0].Values["kl_to_optimal"], 1e-9,
			"%s starts from the reference", o.Label)
	}
}

func TestPrintTable(t *testing.T) {
	s := &summary.Summary{
		Beta:      0.5,
		Reference: map[string]float64{"expected_reward": 1, "kl_to_optimal": 2},
		Optimal:   map[string]float64{"expected_reward": 3, "kl_to_optimal": 0},
		Objectives: []summary.Objective{
			{Label: "far", Steps: 4, Final: map[string]float64{"kl_to_optimal": 0.9}},
			{Label: "near", Steps: 4, Final: map[string]float64{"kl_to_optimal": 0.1}},
		},
	}
	var b bytes.Buffer
	PrintTable(&b, s, TableOptions{})
	out := b.String()
	assert.Less(t, strings.Index(out, "near"), strings.Index(out, "far"), "sorted by KL to the optimum:\n%s", out)
	assert.Contains(t, out, "optimum π*(β=0.5)")
	assert.Contains(t, out, "0.900")
	assert.NotContains(t, out, report.TieNote, "no footnote without reference accuracies:\n%s", out)

	// π_ref's accuracies are ties by construction: "–*" and the footnote,
	// while its other values print as numbers.
	s.Reference[metric.EvalRewardsAccuracies] = 0
	s.Reference[metric.ImplicitRewardAccuracy] = 0
	s.Objectives[0].Final[metric.EvalRewardsAccuracies] = 0.75
	b.Reset()
	PrintTable(&b, s, TableOptions{NoTiming: true})
	lines := strings.Split(b.String(), "\n")
	require.GreaterOrEqual(t, len(lines), 2)
	assert.Contains(t, lines[0], "eval acc")
	assert.Contains(t, lines[0], "implicit acc")
	assert.Equal(t, 2, strings.Count(lines[1], "–*"), "reference row: %q", lines[1])
	assert.Contains(t, lines[1], "2.000")
	assert.Contains(t, b.String(), "0.750")
	assert.Contains(t, b.String(), "* "+report.TieNote)
}

func TestFrontierBetas(t *testing.T) {
	got := FrontierBetas([]float64{8, 0.05, 1, -1})
	require.Len(t, got, FrontierPoints+1)
	assert.Equal(t, FrontierLimit, got[0], "the limit β′ → ∞ first")
	assert.InDelta(t, 800, got[1], 1e-9, "100 times the largest β′ of the task")
	assert.Equal(t, 0.05, got[len(got)-1], "down to the smallest β′ of the task")
	for i := 2; i < len(got); i++ {
		assert.Less(t, got[i], got[i-1], "decreasing at %d", i)
		if i > 2 { // log-spaced: a constant ratio
			assert.InDelta(t, got[1]/got[2], got[i-1]/got[i], 1e-9, "ratio at %d", i)
		}
	}
	assert.Equal(t, []float64{FrontierLimit}, FrontierBetas(nil))
}

// TestInterruptedThenResumed stops a comparison while its second objective
// trains, then resumes it: the summary of the interrupted run covers the
// first objective and lists the second as unfinished; the resumed run reads
// the first back without training it and ends where an uninterrupted run
// ends.
func TestInterruptedThenResumed(t *testing.T) {
	want, _ := runTiny(t, 1)

	exp, err := config.Parse([]byte(tiny), "tiny.toml")
	require.NoError(t, err)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := func(label string, done, total int, loss float64) {
		if label == "kto" && done >= 1 {
			cancel()
		}
	}
	_, err = Run(ctx, exp, Options{Dir: dir, Jobs: 1, Progress: stop})
	require.ErrorIs(t, err, ErrUnfinished)
	assert.ErrorContains(t, err, "1 of 2 objectives finished (unfinished: kto)")
	part, err := summary.Read(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	require.Len(t, part.Objectives, 1)
	assert.Equal(t, "dpo", part.Objectives[0].Label)
	assert.Equal(t, []string{"kto"}, part.Unfinished)
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), "unfinished")

	trained := map[string]bool{}
	seen := func(label string, done, total int, loss float64) { trained[label] = true }
	got, err := Run(context.Background(), exp, Options{Dir: dir, Jobs: 1, Resume: true, Progress: seen})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"kto": true}, trained, "only the unfinished objective trains")
	assert.Empty(t, got.Unfinished)
	require.Len(t, got.Objectives, 2)
	for i, o := range got.Objectives {
		assert.Equal(t, want.Objectives[i].Label, o.Label)
		assert.Equal(t, want.Objectives[i].Final, o.Final, "%s final metrics", o.Label)
	}
}

// tinySeeds is tiny with two seeds and DPO swept over two multiples of its
// β: three objectives, six runs.
var tinySeeds = tiny + `
[sweep]
param = "beta"
scale = [0.5, 1]
objectives = ["dpo"]
`

func parseTinySeeds(t *testing.T) *config.Experiment {
	t.Helper()
	exp, err := config.Parse([]byte(strings.Replace(tinySeeds, "seed = 7\n", "seed = 7\nseeds = 2\n", 1)), "tiny.toml")
	require.NoError(t, err)
	require.Equal(t, 2, exp.Run.Seeds)
	return exp
}

func TestSeeds(t *testing.T) {
	exp := parseTinySeeds(t)
	dir := t.TempDir()
	s, err := Run(context.Background(), exp, Options{Dir: dir, Jobs: 2})
	require.NoError(t, err)

	assert.Equal(t, []uint64{7, 8}, s.Seeds)
	labels := []string{"dpo/beta=0.25", "dpo/beta=0.5", "kto"}
	require.Len(t, s.Objectives, 6, "every objective once per seed")
	for i, o := range s.Objectives {
		assert.Equal(t, labels[i%3], o.Label)
		assert.Equal(t, uint64(7+i/3), o.Seed, "%s", o.Label)
		assert.True(t, strings.HasPrefix(o.Checkpoint, filepath.Join(dir, fmt.Sprintf("seed-%d", o.Seed))+string(filepath.Separator)),
			"checkpoint %s of seed %d", o.Checkpoint, o.Seed)
		_, err := os.Stat(filepath.Join(dir, "results", fmt.Sprintf("seed-%d", o.Seed), url.PathEscape(o.Label)+".json"))
		assert.NoError(t, err, "saved result of %s, seed %d", o.Label, o.Seed)
		assert.Contains(t, o.Final, metric.FrontierShortfall)
	}
	// The sweep's group, parameter and value.
	assert.Equal(t, "dpo", s.Objectives[0].Group)
	assert.Equal(t, "beta", s.Objectives[0].SweepParam)
	assert.Equal(t, 0.25, s.Objectives[0].SweepValue)
	assert.Empty(t, s.Objectives[2].Group, "kto is not swept")

	// Aggregates: one per label, each metric's values the per-seed finals
	// in seed order.
	require.Len(t, s.Aggregates, 3)
	for i, a := range s.Aggregates {
		assert.Equal(t, labels[i], a.Label)
		first, second := s.Objectives[i], s.Objectives[i+3]
		require.NotEmpty(t, a.Metrics)
		for k, st := range a.Metrics {
			assert.Equal(t, []float64{first.Final[k], second.Final[k]}, st.Values, "%s %s", a.Label, k)
			assert.InDelta(t, (first.Final[k]+second.Final[k])/2, st.Mean, 1e-12)
			assert.LessOrEqual(t, st.Lo, st.Mean)
			assert.GreaterOrEqual(t, st.Hi, st.Mean)
		}
		assert.Len(t, a.Metrics, len(first.Final))
	}
	assert.Equal(t, "dpo", s.Aggregates[0].Group)
	// The seeds draw different tasks and references; the reported
	// reference is the first seed's.
	kl := s.ReferenceStats[metric.KLToOptimal]
	require.Len(t, kl.Values, 2)
	assert.NotEqual(t, kl.Values[0], kl.Values[1], "the seeds' references differ")
	assert.Equal(t, s.Reference[metric.KLToOptimal], kl.Values[0])
	assert.Len(t, s.OptimalStats[metric.ExpectedReward].Values, 2)
	assert.NotEqual(t, s.Objectives[1].Final, s.Objectives[4].Final)

	// The seed's experiment moves the run's and the task's seeds, hence
	// the prompts.
	e1 := SeedExperiment(exp, 1)
	assert.Equal(t, exp.Run.Seed+1, e1.Run.Seed)
	assert.Equal(t, exp.Task.Seed+1, e1.Task.Seed)
	assert.Equal(t, uint64(1), exp.Task.Seed, "exp is not modified")
	t0, err := testbed.New(exp.Task.Config)
	require.NoError(t, err)
	t1, err := testbed.New(e1.Task.Config)
	require.NoError(t, err)
	assert.NotEqual(t, t0.TrainPrompts(), t1.TrainPrompts(), "different seeds give different task prompts")

	// summary.json holds what Run returned.
	back, err := summary.Read(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	assert.Equal(t, s.Aggregates[2].Metrics, back.Aggregates[2].Metrics)

	// Each seed's reference was saved and loads as [reference] checkpoint:
	// the same weights, the same exact metrics.
	require.Len(t, s.ReferenceCheckpoints, 2)
	for k, ckpt := range s.ReferenceCheckpoints {
		ek := SeedExperiment(exp, k)
		ek.Reference.Checkpoint = ckpt
		m, err := experiment.Prepare(context.Background(), ek, experiment.Options{})
		require.NoError(t, err)
		assert.Equal(t, s.ReferenceStats[metric.KLToOptimal].Values[k], m.Testbed.RefReport.Mean.KLOpt, "seed %d", ek.Run.Seed)
		c, err := checkpoint.Load(ckpt)
		require.NoError(t, err)
		assert.Contains(t, string(c.Config), fmt.Sprintf("seed = %d", 7+k), "the seed's resolved experiment")
	}

	var b bytes.Buffer
	PrintTable(&b, s, TableOptions{NoTiming: true})
	assert.Contains(t, b.String(), "95% t-interval over 2 seeds")
	assert.Contains(t, b.String(), fmt.Sprintf("%.3f ± %.3f", s.Aggregates[2].Metrics[metric.KLToOptimal].Mean,
		s.Aggregates[2].Metrics[metric.KLToOptimal].HalfWidth()))
}

// TestSeedsResumed stops a two-seed comparison during the second seed and
// resumes it: the first seed's runs are read back, only the rest train, and
// the result equals an uninterrupted run's.
func TestSeedsResumed(t *testing.T) {
	exp := parseTinySeeds(t)
	want, err := Run(context.Background(), exp, Options{Dir: t.TempDir(), Jobs: 1})
	require.NoError(t, err)

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := 0
	last := ""
	stop := func(label string, done, total int, loss float64) {
		if label != last {
			runs, last = runs+1, label
		}
		if runs == 5 { // the second objective of the second seed
			cancel()
		}
	}
	_, err = Run(ctx, exp, Options{Dir: dir, Jobs: 1, Progress: stop})
	require.ErrorIs(t, err, ErrUnfinished)
	assert.ErrorContains(t, err, "4 of 6 runs (objective × seed) finished (unfinished: dpo/beta=0.5 (seed 8), kto (seed 8))")

	trained := map[string]bool{}
	seen := func(label string, done, total int, loss float64) { trained[label] = true }
	got, err := Run(context.Background(), exp, Options{Dir: dir, Jobs: 1, Resume: true, Progress: seen})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"dpo/beta=0.5": true, "kto": true}, trained, "only the unfinished runs train")
	require.Len(t, got.Objectives, 6)
	for i, o := range got.Objectives {
		assert.Equal(t, want.Objectives[i].Label, o.Label)
		assert.Equal(t, want.Objectives[i].Seed, o.Seed)
		assert.Equal(t, want.Objectives[i].Final, o.Final, "%s seed %d", o.Label, o.Seed)
	}
}

// TestResumeReadsOneSeedLayout resumes a one-seed comparison whose results
// were saved as results/<label>.json, before they were kept per seed.
func TestResumeReadsOneSeedLayout(t *testing.T) {
	exp, err := config.Parse([]byte(tiny), "tiny.toml")
	require.NoError(t, err)
	dir := t.TempDir()
	want, err := Run(context.Background(), exp, Options{Dir: dir, Jobs: 1})
	require.NoError(t, err)
	for _, o := range want.Objectives {
		require.NoError(t, os.Rename(filepath.Join(dir, "results", "seed-7", o.Label+".json"), filepath.Join(dir, "results", o.Label+".json")))
	}
	trained := map[string]bool{}
	seen := func(label string, done, total int, loss float64) { trained[label] = true }
	got, err := Run(context.Background(), exp, Options{Dir: dir, Jobs: 1, Resume: true, Progress: seen})
	require.NoError(t, err)
	assert.Empty(t, trained, "every result is read back")
	assert.Equal(t, want.Objectives[1].Final, got.Objectives[1].Final)
}
