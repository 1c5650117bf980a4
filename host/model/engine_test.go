package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestEngineAddMatchesGorgonia: the engine's Add gives gorgonia's bits
// into a reused tensor, in place and in a new tensor, for float32 and
// float64, at sizes split over the cores and not multiples of 16, and
// falls back to gorgonia for views.
func TestEngineAddMatchesGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		for _, n := range []int{7, engineMinAdd + 13, 5 * engineMinAdd} {
			mk := func() *tensor.Dense {
				d := tensor.New(tensor.WithShape(n), tensor.Of(dt))
				switch s := d.Data().(type) {
				case []float32:
					for i := range s {
						s[i] = float32(rng.NormFloat64() * 1e3)
					}
					s[0], s[n-1] = float32(math.Inf(1)), float32(math.NaN())
				case []float64:
					for i := range s {
						s[i] = rng.NormFloat64() * 1e3
					}
					s[0], s[n-1] = math.Inf(-1), math.NaN()
				}
				return d
			}
			a, b := mk(), mk()
			want, err := G.StandardEngine{}.Add(a.Clone().(*tensor.Dense), b)
			require.NoError(t, err)
			var e engine
			reuse := tensor.New(tensor.WithShape(n), tensor.Of(dt))
			got, err := e.Add(a, b, tensor.WithReuse(reuse))
			require.NoError(t, err)
			require.Same(t, reuse, got)
			requireBits(t, want.Data(), got.Data())
			fresh, err := e.Add(a, b)
			require.NoError(t, err)
			requireBits(t, want.Data(), fresh.Data())
			inPlace, err := e.Add(a, b, tensor.UseUnsafe())
			require.NoError(t, err)
			require.Same(t, a, inPlace)
			requireBits(t, want.Data(), a.Data())
		}
	}
	// A view is left to gorgonia, which handles its strides.
	m := tensor.New(tensor.WithShape(4, engineMinAdd), tensor.WithBacking(make([]float32, 4*engineMinAdd)))
	v, err := m.Slice(G.S(1, 3))
	require.NoError(t, err)
	sum, err := engine{}.Add(v, v.(*tensor.Dense).Clone().(*tensor.Dense))
	require.NoError(t, err)
	require.Equal(t, []int{2, engineMinAdd}, []int(sum.Shape()))
}

func requireBits(t *testing.T, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case []float32:
		g := got.([]float32)
		require.Len(t, g, len(w))
		for i := range w {
			require.Equal(t, math.Float32bits(w[i]), math.Float32bits(g[i]), "[%d]: %v, %v", i, w[i], g[i])
		}
	case []float64:
		g := got.([]float64)
		require.Len(t, g, len(w))
		for i := range w {
			require.Equal(t, math.Float64bits(w[i]), math.Float64bits(g[i]), "[%d]: %v, %v", i, w[i], g[i])
		}
	}
}
