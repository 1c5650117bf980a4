package testbed

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// newTask builds a task from Defaults modified by edit.
func newTask(t testing.TB, edit func(*Config)) *Task {
	t.Helper()
	cfg := Defaults()
	if edit != nil {
		edit(&cfg)
	}
	task, err := New(cfg)
	require.NoError(t, err)
	return task
}

// randomTable returns a policy over every train and eval prompt whose
// log-probs are the log-softmax of N(0, scale²) logits.
func randomTable(task *Task, rng *rand.Rand, scale float64) *TablePolicy {
	tab := NewTablePolicy(task.cfg.Alphabet, task.cfg.CompletionLen)
	for _, x := range task.allPrompts() {
		logits := make([]float64, task.n)
		for k := range logits {
			logits[k] = scale * rng.NormFloat64()
		}
		z := logSumExp(logits)
		for k := range logits {
			logits[k] -= z
		}
		tab.Set(x, logits)
	}
	return tab
}

// logs returns the natural logs of ps.
func logs(ps ...float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = math.Log(p)
	}
	return out
}

// massOf returns Σ exp(lp).
func massOf(lp []float64) float64 {
	s := 0.0
	for _, v := range lp {
		s += math.Exp(v)
	}
	return s
}

// requireFinite fails the test if any value is NaN or ±Inf.
func requireFinite(t *testing.T, name string, vs ...float64) {
	t.Helper()
	for i, v := range vs {
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s[%d] = %g is not finite", name, i, v)
	}
}

func metricValues(m Metrics) []float64 {
	return []float64{m.Reward, m.KLRef, m.Entropy, m.LogZ, m.KLOpt, m.J, m.Gap}
}
