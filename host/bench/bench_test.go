package bench

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/model"
)

// TestShapesMatchYardstick checks each shape's parameter count against the
// count torch_dpo_step.py prints for the same shape (params=…).
func TestShapesMatchYardstick(t *testing.T) {
	torchParams := map[string]int{"bench": 421376, "large": 19308544}
	require.Len(t, Shapes, len(torchParams))
	for name, want := range torchParams {
		sh, ok := Shapes[name]
		require.True(t, ok, name)
		w, err := model.New(sh.Model, 1)
		require.NoError(t, err, name)
		assert.Equal(t, want, w.NumParams(), name)
		assert.Less(t, sh.PromptLen, sh.Model.Context, name)
	}
}

func TestRunUnknownModel(t *testing.T) {
	_, err := Run(context.Background(), Options{Model: "huge", Steps: 1, InProcess: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown model "huge" (known: bench, large)`)
}

func TestRunBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 4 training steps")
	}
	r, err := Run(context.Background(), Options{Steps: 1, InProcess: true, Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, "bench", r.Model)
	assert.Equal(t, 2*16*63, r.Tokens)
	assert.Greater(t, r.TokensPerSecond, 0.0)
	assert.Greater(t, r.PeakRSSBytes, int64(0))
}

// BenchmarkRun runs b.N measured steps of each shape in one Run (DPO in
// process) and reports Run's median tokens/s; use it with -cpuprofile.
func BenchmarkRun(b *testing.B) {
	for _, name := range []string{"bench", "large"} {
		b.Run(name, func(b *testing.B) {
			r, err := Run(context.Background(), Options{Model: name, Steps: b.N, InProcess: true, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.TokensPerSecond, "tokens/s")
			b.ReportMetric(float64(r.PeakRSSBytes)/(1<<20), "peak-MiB")
		})
	}
}
