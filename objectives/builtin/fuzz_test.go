package builtin_test

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/builtin"
)

// FuzzObjectives feeds every built-in objective (with its default
// parameters) a batch of arbitrary float64 bit patterns and counts. Each
// call must return either a result that passes core.CheckResult — finite
// loss, losses, gradients and metrics of the right lengths — or a typed
// error (an *core.InputError); never a panic or an untyped error.
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
