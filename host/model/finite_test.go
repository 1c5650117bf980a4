package model

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cfg := Config{Vocab: 300, Context: 6, Width: 8, Heads: 2, Layers: 2, MLPMult: 2}
	type put struct {
		tensor string
		index  int
		value  float32
	}
	cases := []struct {
		name string
		puts []put
		want *put // nil: no error
	}{
		{"all finite, extremes included", []put{
			{"tok.weight", 0, math.MaxFloat32}, {"tok.weight", 1, -math.MaxFloat32},
			{"head.weight", 5, math.SmallestNonzeroFloat32}, {"lnf.bias", 2, float32(math.Copysign(0, -1))},
		}, nil},
		{"NaN at the first value", []put{{"tok.weight", 0, nan}}, &put{"tok.weight", 0, nan}},
		{"+Inf inside a tensor", []put{{"tok.weight", 515, inf}}, &put{"tok.weight", 515, inf}},
		{"-Inf at the last value", []put{{"head.weight", 8*300 - 1, -inf}}, &put{"head.weight", 8*300 - 1, -inf}},
		{"in a later tensor", []put{{"blocks.1.mlp.fc.bias", 14, inf}}, &put{"blocks.1.mlp.fc.bias", 14, inf}},
		{"first of two in one tensor", []put{{"blocks.0.attn.qkv.weight", 70, inf}, {"blocks.0.attn.qkv.weight", 9, nan}},
			&put{"blocks.0.attn.qkv.weight", 9, nan}},
		{"first tensor in name order wins", []put{{"head.weight", 0, nan}, {"blocks.1.ln2.gain", 3, -inf}},
			&put{"blocks.1.ln2.gain", 3, -inf}},
		{"NaN with the sign bit set", []put{{"pos.weight", 47, -nan}}, &put{"pos.weight", 47, -nan}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := New(cfg, 1)
			require.NoError(t, err)
			for _, p := range c.puts {
				w.Data(p.tensor)[p.index] = p.value
			}
			err = w.CheckFinite()
			if c.want == nil {
				assert.NoError(t, err)
				return
			}
			var nf *NonFiniteError
			require.True(t, errors.As(err, &nf), "got %v", err)
			assert.Equal(t, c.want.tensor, nf.Tensor)
			assert.Equal(t, c.want.index, nf.Index)
			assert.Equal(t, math.Float32bits(c.want.value), math.Float32bits(nf.Value))
			assert.Contains(t, err.Error(), "model: "+c.want.tensor+"[")
		})
	}
}

func TestCheckFiniteAllocatesNothing(t *testing.T) {
	w, err := New(benchCfg, 1)
	require.NoError(t, err)
	var got error
	allocs := testing.AllocsPerRun(10, func() { got = w.CheckFinite() })
	require.NoError(t, got)
	assert.Zero(t, allocs)
}

// BenchmarkCheckFinite scans the bench-shape weights (all finite).
func BenchmarkCheckFinite(b *testing.B) {
	w, err := New(benchCfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.CheckFinite(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.NumParams())*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
}
