package suite

import (
	"bytes"
	"context"
	"encoding/csv"
	"github.com/prefopt/prefopt/internal/testexp"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/compare"
	"github.com/prefopt/prefopt/host/experiment"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/rundir"
	"github.com/prefopt/prefopt/host/summary"
)

func TestMain(m *testing.M) {
	objective.ServeIfAsked() // built-ins re-execute this test binary as their plugin
	os.Exit(m.Run())
}

// tiny is a scenario small enough for a unit test (testexp.Tiny); NAME and
// CLAIM are replaced per scenario.
var tiny = testexp.Tiny("name = \"NAME\"\ndescription = \"CLAIM\"\nseed = 7", 0)

// tinyFS holds two scenarios: "plain", and "swept", whose DPO is swept over
// half and once its β.
func tinyFS() fstest.MapFS {
	scenario := func(name, claim, extra string) *fstest.MapFile {
		text := strings.NewReplacer("NAME", name, "CLAIM", claim).Replace(tiny) + extra
		return &fstest.MapFile{Data: []byte(text)}
	}
	return fstest.MapFS{
		"plain.toml": scenario("plain", "Plain claim.", ""),
		"swept.toml": scenario("swept", "Swept claim.", "[sweep]\nparam = \"beta\"\nscale = [0.5, 1]\nobjectives = [\"dpo\"]\n"),
		"README.md":  &fstest.MapFile{Data: []byte("not a scenario")},
	}
}

func TestLoad(t *testing.T) {
	scs, err := Load(tinyFS())
	require.NoError(t, err)
	require.Len(t, scs, 2)
	assert.Equal(t, "plain", scs[0].Name)
	assert.Equal(t, "Plain claim.", scs[0].Claim)
	assert.Equal(t, "scenarios/plain.toml", scs[0].File)
	assert.Equal(t, "swept", scs[1].Name)
	assert.Len(t, scs[1].Experiment.Objectives, 3)

	bad := []struct{ name, text, want string }{
		{"no task", "[run]\ndescription = \"c\"\n[data]\ntrain = \"d.jsonl\"\n[[objective]]\nname = \"dpo\"\n",
			"suite: scenarios/x.toml: a scenario trains on the built-in task: it needs a [task] table"},
		{"no claim", "[task]\n[[objective]]\nname = \"dpo\"\n",
			"suite: scenarios/x.toml: run.description is empty: state the claim the scenario tests"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{"x.toml": &fstest.MapFile{Data: []byte(c.text)}})
			assert.EqualError(t, err, c.want)
		})
	}
	_, err = Load(fstest.MapFS{})
	assert.EqualError(t, err, "suite: no scenario files (*.toml)")
}

// TestBuiltinScenarios checks that every embedded scenario loads, and that
// the baseline is the built-in comparison under another name.
func TestBuiltinScenarios(t *testing.T) {
	scs, err := Load(Builtin())
	require.NoError(t, err)
	names := map[string]Scenario{}
	for _, sc := range scs {
		names[sc.Name] = sc
		assert.NotEmpty(t, sc.Claim)
		assert.Equal(t, sc.Name, sc.Experiment.Run.Name, "%s: run.name is the file's name", sc.File)
	}
	for _, want := range []string{"baseline", "deterministic", "frontier"} {
		assert.Contains(t, names, want)
	}
	def, err := experiment.LoadDefaultCompare()
	require.NoError(t, err)
	a, err := def.Resolved()
	require.NoError(t, err)
	b, err := names["baseline"].Experiment.Resolved()
	require.NoError(t, err)
	changes, err := rundir.Diff(a, b)
	require.NoError(t, err)
	var keys []string
	for _, c := range changes {
		keys = append(keys, c.Key)
	}
	assert.Equal(t, []string{"run.description", "run.name"}, keys, "baseline differs from prefopt compare's default only in name")

	f := names["frontier"].Experiment
	require.NotNil(t, f.Sweep)
	assert.Contains(t, f.Sweep.Scale, 1.0, "the frontier's leaderboard row needs the matched members")
	assert.Equal(t, 0.0, names["deterministic"].Experiment.Task.LabelTemperature)
}

func TestBest(t *testing.T) {
	st := func(mean, lo, hi float64) summary.Stat { return summary.Stat{Mean: mean, Lo: lo, Hi: hi} }
	cases := []struct {
		name  string
		cells map[string]summary.Stat
		want  []string
	}{
		{"separated", map[string]summary.Stat{"a": st(1, 0.9, 1.1), "b": st(2, 1.9, 2.1)}, []string{"a"}},
		{"overlapping", map[string]summary.Stat{"a": st(1, 0.5, 1.5), "b": st(2, 1.4, 2.6), "c": st(3, 2.9, 3.1)}, []string{"a", "b"}},
		{"touching", map[string]summary.Stat{"a": st(1, 0, 2), "b": st(3, 2, 4)}, []string{"a", "b"}},
		{"points tie", map[string]summary.Stat{"b": st(1, 1, 1), "a": st(1, 1, 1), "c": st(2, 2, 2)}, []string{"a", "b"}},
		{"empty", map[string]summary.Stat{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, Best(c.cells))
		})
	}
}

func runTiny(t *testing.T, ctx context.Context, dir string, resume bool, log *bytes.Buffer) (*summary.Leaderboard, error) {
	t.Helper()
	scs, err := Load(tinyFS())
	require.NoError(t, err)
	opts := Options{Dir: dir, Seeds: 2, Jobs: 2, Resume: resume}
	if log != nil {
		opts.Log = log
	}
	return Run(ctx, scs, opts)
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	l, err := runTiny(t, context.Background(), dir, false, nil)
	require.NoError(t, err)

	assert.Equal(t, Metric, l.Metric)
	assert.True(t, l.LowerIsBetter)
	assert.Equal(t, []uint64{7, 8}, l.Seeds)
	require.Len(t, l.Scenarios, 2)
	for _, sc := range l.Scenarios {
		s, err := summary.Read(filepath.Join(dir, sc.Dir, "summary.json"))
		require.NoError(t, err)
		assert.FileExists(t, filepath.Join(dir, sc.Dir, "report.html"))
		assert.FileExists(t, filepath.Join(dir, sc.Dir, rundir.ConfigFile))
		// Each cell is the scenario's aggregate; the swept DPO enters
		// through its matched member, labelled "dpo".
		assert.Equal(t, []string{"dpo", "kto"}, sortedKeys(sc.Cells), sc.Name)
		want := map[string]string{"dpo": "dpo", "kto": "kto"}
		if sc.Name == "swept" {
			want["dpo"] = "dpo/beta=0.5"
		}
		for cell, label := range want {
			var agg *summary.Aggregate
			for i := range s.Aggregates {
				if s.Aggregates[i].Label == label {
					agg = &s.Aggregates[i]
				}
			}
			require.NotNil(t, agg, "%s: aggregate %s", sc.Name, label)
			assert.Equal(t, agg.Metrics[Metric], sc.Cells[cell], "%s: %s", sc.Name, cell)
			assert.Len(t, sc.Cells[cell].Values, 2)
		}
		assert.Equal(t, s.ReferenceStats[Metric], sc.Reference)
		assert.Equal(t, Best(sc.Cells), sc.Best)
		require.NotEmpty(t, sc.Best)
	}
	// The plain and swept scenarios train the same dpo (β 0.5) and kto on
	// the same seeds: their cells agree.
	assert.Equal(t, l.Scenarios[0].Cells["dpo"].Values, l.Scenarios[1].Cells["dpo"].Values)

	back, err := summary.ReadLeaderboard(filepath.Join(dir, "leaderboard.json"))
	require.NoError(t, err)
	assert.Equal(t, l.Scenarios, back.Scenarios)
	page, err := os.ReadFile(filepath.Join(dir, report.LeaderboardFile))
	require.NoError(t, err)
	for _, sc := range l.Scenarios {
		assert.Contains(t, string(page), sc.Dir+"/report.html", "the page links each scenario's report")
	}

	f, err := os.Open(filepath.Join(dir, "leaderboard.csv"))
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1+2*4, "header, then reference, optimum and two objectives per scenario")
	assert.Equal(t, CSVHeader, recs[0])
	for _, r := range recs[1:] {
		sc := l.Scenarios[0]
		if r[0] == "swept" {
			sc = l.Scenarios[1]
		}
		var st summary.Stat
		switch r[1] {
		case "reference":
			st = sc.Reference
		case "optimum":
			st = sc.Optimal
		default:
			st = sc.Cells[r[2]]
		}
		mean, err := strconv.ParseFloat(r[4], 64)
		require.NoError(t, err)
		assert.Equal(t, st.Mean, mean, "%v", r)
		assert.Equal(t, strconv.Itoa(len(st.Values)), r[7], "%v", r)
		assert.Equal(t, strconv.FormatBool(r[1] == "objective" && slices.Contains(sc.Best, r[2])), r[8], "%v", r)
	}

	// Without Resume, a suite directory is not run again.
	_, err = runTiny(t, context.Background(), dir, false, nil)
	assert.ErrorContains(t, err, "holds a run already: continue the suite with --resume")

	n, ok := SavedSeeds(dir, tinyScenarios(t))
	assert.True(t, ok)
	assert.Equal(t, 2, n, "the seeds the suite ran with")
	_, ok = SavedSeeds(t.TempDir(), tinyScenarios(t))
	assert.False(t, ok)

	// Resuming a finished suite reads every scenario back; a new claim is
	// accepted, a change of what is computed is not.
	edited := tinyFS()
	edited["plain.toml"].Data = bytes.Replace(edited["plain.toml"].Data, []byte("Plain claim."), []byte("New claim."), 1)
	scs, err := Load(edited)
	require.NoError(t, err)
	var log bytes.Buffer
	again, err := Run(context.Background(), scs, Options{Dir: dir, Seeds: 2, Resume: true, Log: &log})
	require.NoError(t, err)
	assert.Contains(t, log.String(), "plain: resuming with run.description")
	assert.Contains(t, log.String(), "swept: finished before")
	assert.Equal(t, "New claim.", again.Scenarios[0].Claim)
	assert.Equal(t, l.Scenarios[0].Cells, again.Scenarios[0].Cells)
	assert.InDelta(t, l.WallSeconds, again.WallSeconds, 1e-9, "the scenarios' own times")

	edited["plain.toml"].Data = bytes.Replace(edited["plain.toml"].Data, []byte("lr = 1e-2\n[train]"), []byte("lr = 2e-2\n[train]"), 1)
	scs, err = Load(edited)
	require.NoError(t, err)
	_, err = Run(context.Background(), scs, Options{Dir: dir, Seeds: 2, Resume: true})
	assert.ErrorContains(t, err, "holds a different run than the scenario now is:\n  optimizer.lr: 0.01 -> 0.02")
}

// TestRunResumed interrupts a suite in its second scenario and resumes it:
// the first is read back, the second continues, and the leaderboard equals
// an uninterrupted one's.
func TestRunResumed(t *testing.T) {
	want, err := runTiny(t, context.Background(), t.TempDir(), false, nil)
	require.NoError(t, err)

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scs, err := Load(tinyFS())
	require.NoError(t, err)
	// Stop when the second scenario's first objective starts its second
	// seed: the first seed is then finished.
	starts, last := 0, ""
	stop := func(label string, done, total int, loss float64) {
		if label != last && label == "dpo/beta=0.25" { // only the second scenario has it
			starts++
		}
		last = label
		if starts == 2 {
			cancel()
		}
	}
	_, err = Run(ctx, scs, Options{Dir: dir, Seeds: 2, Jobs: 1, Progress: stop})
	require.ErrorIs(t, err, compare.ErrUnfinished)
	assert.ErrorContains(t, err, "suite: scenario swept")
	assert.NoFileExists(t, filepath.Join(dir, "leaderboard.json"))

	var log bytes.Buffer
	got, err := runTiny(t, context.Background(), dir, true, &log)
	require.NoError(t, err)
	assert.Contains(t, log.String(), "plain: finished before")
	assert.Contains(t, log.String(), "kto: finished before", "the second scenario's first seed")
	assert.NotContains(t, log.String(), "swept: finished before")
	require.Len(t, got.Scenarios, 2)
	for i := range want.Scenarios {
		assert.Equal(t, want.Scenarios[i].Cells, got.Scenarios[i].Cells, want.Scenarios[i].Name)
		assert.Equal(t, want.Scenarios[i].Best, got.Scenarios[i].Best)
	}
}

func tinyScenarios(t *testing.T) []Scenario {
	scs, err := Load(tinyFS())
	require.NoError(t, err)
	return scs
}

func sortedKeys(m map[string]summary.Stat) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
