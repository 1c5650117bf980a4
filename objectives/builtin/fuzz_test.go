package builtin_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/builtin"
)

// FuzzObjectives feeds every built-in objective (with its default
// parameters, and the variants of fuzzVariants) a batch of arbitrary float64
// bit patterns and counts, per-token arrays as long as their counts. Each
// call must return either a result that passes core.CheckResult — finite
// loss, losses, gradients and metrics of the right lengths — or a typed
// error (an *core.InputError); never a panic or an untyped error.
// fuzzVariants are parameter sets beyond the defaults, by objective: every
// loss type at once, and the per-token and WPO inputs.
var fuzzVariants = map[string][]map[string]any{
	"dpo": {
		{"loss_type": []string{"sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
			"aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm"}, "label_smoothing": 0.1},
		{"ld_alpha": 0.5, "use_weighting": true, "f_divergence_type": "forward_kl", "loss_type": []string{"ipo", "sft"}},
		{"f_divergence_type": "alpha_divergence", "loss_type": []string{"discopop", "sppo_hard"}},
	},
	"kto":   {{"loss_type": "apo_zero_unpaired"}},
	"chipo": {{"beta": 1.0, "r_max": 1000.0}},
}

func FuzzObjectives(f *testing.F) {
	seed := func(vals ...float64) []byte {
		b := make([]byte, 0, 8*len(vals))
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	f.Add(seed(-1, -2, -3, -4, -5, -6, -7, -8), uint8(2), uint8(5))
	f.Add(seed(-1e-300, -1e300, 0, -0.0, 1, -1e-7, math.NaN(), math.Inf(-1)), uint8(1), uint8(1))
	f.Add(seed(-3000, 3000, -5000, 5, -1e-8, -1e-8, -2, -2), uint8(3), uint8(0))
	objs := map[string]core.Objective{}
	for _, d := range builtin.Definitions() {
		o, _, err := core.Local(d).Configure(context.Background(), nil)
		if err != nil {
			f.Fatal(err)
		}
		objs[d.Spec.Name] = o
		for k, params := range fuzzVariants[d.Spec.Name] {
			o, _, err := core.Local(d).Configure(context.Background(), params)
			if err != nil {
				f.Fatal(err)
			}
			objs[fmt.Sprintf("%s/%d", d.Spec.Name, k)] = o
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, n uint8, length uint8) {
		size := int(n%8) + 1
		floats := make([]float64, 0, len(raw)/8)
		for i := 0; i+8 <= len(raw); i += 8 {
			floats = append(floats, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
		}
		next := func(i int) float64 {
			if len(floats) == 0 {
				return -1
			}
			return floats[i%len(floats)]
		}
		b := &core.Batch{}
		k := 0
		for _, fl := range core.Fields {
			switch fl.Kind {
			case core.Float:
				xs := make([]float64, size)
				for i := range xs {
					xs[i] = next(k)
					k++
				}
				*b.Floats(fl.Name) = xs
			case core.Count:
				xs := make([]int64, size)
				for i := range xs {
					xs[i] = int64(length) - int64(i%3)
				}
				*b.Counts(fl.Name) = xs
			case core.Bool:
				xs := make([]bool, size)
				for i := range xs {
					xs[i] = (int(length)+i)%2 == 0
				}
				*b.Bools(fl.Name) = xs
			}
		}
		// Per-token arrays after the counts they follow.
		for _, fl := range core.Fields {
			if fl.Kind != core.TokenFloat {
				continue
			}
			counts := *b.Counts(fl.Lengths)
			rows := make([][]float64, size)
			for i := range rows {
				rows[i] = make([]float64, max(0, counts[i]))
				for t := range rows[i] {
					rows[i][t] = next(k)
					k++
				}
			}
			*b.Tokens(fl.Name) = rows
		}
		for name, o := range objs {
			res, err := o.Compute(context.Background(), b)
			if err != nil {
				if core.CodeOf(err) == core.CodeUnspecified {
					t.Fatalf("%s: untyped error %v", name, err)
				}
				continue
			}
			if err := core.CheckResult(b, o.Inputs(), res); err != nil {
				t.Fatalf("%s: accepted the batch but returned an invalid result: %v", name, err)
			}
		}
	})
}
