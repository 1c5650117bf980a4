// Package objtest holds the table-driven checks the objective packages share:
// hand-computed values, parameter errors and benchmarks.
package objtest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
)

// HandCase is a batch whose result was worked out by hand.
type HandCase struct {
	Name    string
	Params  map[string]any
	Batch   core.Batch
	Loss    float64
	Losses  []float64            // nil: not checked
	Grads   map[string][]float64 // every gradient the objective returns
	Metrics map[string]float64   // a subset of the metrics
	Tol     float64              // absolute tolerance, with the reason at the case
}

// Hand runs the hand-computed cases against d.
func Hand(t *testing.T, d core.Definition, cases []HandCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			obj, _, err := core.Local(d).Configure(t.Context(), tc.Params)
			require.NoError(t, err)
			r, err := obj.Compute(t.Context(), &tc.Batch)
			require.NoError(t, err)
			require.NoError(t, core.CheckResult(&tc.Batch, obj.Inputs(), r))
			assert.InDelta(t, tc.Loss, r.Loss, tc.Tol, "loss")
			if tc.Losses != nil {
				require.Len(t, r.Losses, len(tc.Losses))
				for i := range tc.Losses {
					assert.InDelta(t, tc.Losses[i], r.Losses[i], tc.Tol, "losses[%d]", i)
				}
			}
			require.Len(t, r.Grads, len(tc.Grads), "gradient inputs")
			for k, want := range tc.Grads {
				require.Len(t, r.Grads[k], len(want), k)
				for i := range want {
					assert.InDelta(t, want[i], r.Grads[k][i], tc.Tol, "grads.%s[%d]", k, i)
				}
			}
			for k, want := range tc.Metrics {
				got, ok := r.Metrics[k]
				if assert.True(t, ok, "metric %s missing", k) {
					assert.InDelta(t, want, got, tc.Tol, "metrics.%s", k)
				}
			}
		})
	}
}

// ParamCase is a parameter set Configure must refuse with a *core.ParamError
// naming Param, whose message contains Msg.
type ParamCase struct {
	Name   string
	Params map[string]any
	Param  string
	Msg    string
}

// ParamErrors runs the parameter cases against d.
func ParamErrors(t *testing.T, d core.Definition, cases []ParamCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			obj, _, err := core.Local(d).Configure(t.Context(), tc.Params)
			require.Error(t, err)
			assert.Nil(t, obj)
			var pe *core.ParamError
			require.True(t, errors.As(err, &pe), "want *core.ParamError, got %T: %v", err, err)
			assert.Equal(t, tc.Param, pe.Param)
			assert.Contains(t, pe.Msg, tc.Msg)
			assert.Equal(t, core.CodeInvalidParam, core.CodeOf(err))
		})
	}
}

// InputErrorCase is a batch Compute must refuse with a *core.InputError.
type InputErrorCase struct {
	Name   string
	Params map[string]any
	Batch  core.Batch
	Code   core.Code
	Field  string
	Index  int
}

// InputErrors runs the input cases against d.
func InputErrors(t *testing.T, d core.Definition, cases []InputErrorCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			obj, _, err := core.Local(d).Configure(t.Context(), tc.Params)
			require.NoError(t, err)
			r, err := obj.Compute(t.Context(), &tc.Batch)
			require.Error(t, err, "result %+v", r)
			var ie *core.InputError
			require.True(t, errors.As(err, &ie), "want *core.InputError, got %T: %v", err, err)
			assert.Equal(t, tc.Code, ie.Code)
			assert.Equal(t, tc.Field, ie.Field)
			assert.Equal(t, tc.Index, ie.Index)
			assert.False(t, math.IsNaN(ie.Value))
		})
	}
}

// Benchmark times Compute on seeded random batches of 16, 64 and 1024
// examples.
func Benchmark(b *testing.B, d core.Definition, params map[string]any) {
	obj, _, err := core.Local(d).Configure(b.Context(), params)
	require.NoError(b, err)
	for _, n := range []int{16, 64, 1024} {
		batch := conformance.RandomBatch(rand.New(rand.NewPCG(1, uint64(n))), obj.Inputs(), n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := obj.Compute(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
