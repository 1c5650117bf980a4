// Package golden loads the reference values in testdata/objectives/golden.json,
// produced by testdata/objectives/golden.py from an independent
// implementation in 50-digit decimal arithmetic, and compares objectives with
// them.
package golden

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
)

const (
	// RelTol bounds the relative error of a value: the reference is
	// correctly rounded, and the Go closed forms take a handful of roundings
	// on well-conditioned inputs (worst measured 3.6e-15 over all cases).
	RelTol = 1e-12
	// AbsTol covers values that are sums of terms up to ~50 whose result is
	// much smaller (margins, rewards near 0): rounding of the terms, ~50·ε
	// per term, is absolute, not relative to the result.
	AbsTol = 1e-13
)

// Case is one objective, parameter set and batch with its reference result.
type Case struct {
	Name      string               `json:"name"`
	Objective string               `json:"objective"`
	Params    map[string]any       `json:"params"`
	Batch     core.Batch           `json:"batch"`
	Loss      float64              `json:"loss"`
	Losses    []float64            `json:"losses"`
	Grads     map[string][]float64 `json:"grads"`
	// TokenGrads holds the gradients of per-token policy inputs.
	TokenGrads map[string][][]float64 `json:"token_grads"`
	Metrics    map[string]float64     `json:"metrics"`
}

// File is the content of golden.json.
type File struct {
	Cases []Case `json:"cases"`
	// Mathx maps a function name to (x, f(x)) reference pairs.
	Mathx map[string][][2]float64 `json:"mathx"`
}

// Load reads golden.json.
func Load(t testing.TB) File {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	require.True(t, ok)
	path := filepath.Join(filepath.Dir(self), "..", "..", "..", "testdata", "objectives", "golden.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(data, &f), path)
	return f
}

// Run checks d against every golden case of its objective: loss, losses,
// gradients (per-example and per-token) and the exact set of metrics, to RelTol and AbsTol.
func Run(t *testing.T, d core.Definition) {
	var n int
	for _, c := range Load(t).Cases {
		if c.Objective != d.Spec.Name {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			obj, _, err := core.Local(d).Configure(t.Context(), c.Params)
			require.NoError(t, err)
			r, err := obj.Compute(t.Context(), &c.Batch)
			require.NoError(t, err)
			Close(t, "loss", c.Loss, r.Loss)
			require.Len(t, r.Losses, len(c.Losses))
			for i := range c.Losses {
				Close(t, "losses", c.Losses[i], r.Losses[i])
			}
			require.Equal(t, sortedKeys(c.Grads), sortedKeys(r.Grads), "gradient inputs")
			for k, want := range c.Grads {
				require.Len(t, r.Grads[k], len(want), k)
				for i := range want {
					Close(t, "grads."+k, want[i], r.Grads[k][i])
				}
			}
			require.Equal(t, sortedKeys(c.TokenGrads), sortedKeys(r.TokenGrads), "per-token gradient inputs")
			for k, want := range c.TokenGrads {
				require.Len(t, r.TokenGrads[k], len(want), k)
				for i := range want {
					require.Len(t, r.TokenGrads[k][i], len(want[i]), "%s[%d]", k, i)
					for j := range want[i] {
						Close(t, "token_grads."+k, want[i][j], r.TokenGrads[k][i][j])
					}
				}
			}
			require.Equal(t, sortedKeys(c.Metrics), sortedKeys(r.Metrics), "metric names")
			for k, want := range c.Metrics {
				Close(t, "metrics."+k, want, r.Metrics[k])
			}
		})
	}
	require.Positive(t, n, "no golden cases for %s", d.Spec.Name)
}

// Close asserts |got − want| ≤ RelTol·|want| + AbsTol and that got is finite.
func Close(t *testing.T, what string, want, got float64) {
	t.Helper()
	if !assert.False(t, math.IsNaN(got) || math.IsInf(got, 0), "%s: got %v", what, got) {
		return
	}
	assert.InDelta(t, want, got, RelTol*math.Abs(want)+AbsTol, what)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
