// Package conformance is the suite every objective runs, local or behind a
// plugin. It uses only the public contract of package core: a Provider, the
// Objective it configures, Batch, Result and the typed errors.
//
// [Check] runs the suite and returns a [Report]; [Run] runs it inside a Go
// test. Both check the same things with the same tolerances.
package conformance

import (
	"testing"

	"github.com/prefopt/prefopt/core"
)

const (
	// lossMeanTol bounds |Loss − mean(Losses)| relative to 1 + mean|Losses_i|:
	// the two differ only by summation order and by computing a pooled term
	// once instead of per example, a few ulps per example for batches of ≤ 17.
	lossMeanTol = 1e-12

	// fdRelStep sets the central-difference step h = fdRelStep·max(1, |x|).
	// Truncation error is h²|f'''|/6 and rounding error about ε·|f|/h with
	// ε ≈ 1.1e-16; for generated inputs (|x| ≤ 200 nats, losses ≲ 10) a step
	// of 1e-5 relative keeps both below ~1e-9. Scaling with |x| keeps the step
	// well above the spacing of floats near x.
	fdRelStep = 1e-5
	// gradAbsTol and gradRelTol bound |analytic − numeric| ≤ gradAbsTol +
	// gradRelTol·max(|analytic|, |numeric|). The absolute part covers
	// gradients that are zero or tiny (rounding error ~1e-10 above); the
	// relative part covers truncation error at curved points, e.g. ORPO's
	// log(1−eᵃ) near a = −0.1.
	gradAbsTol = 1e-8
	gradRelTol = 1e-5
	// maxKinkFraction is the largest fraction of gradient checks that may be
	// skipped for lying within a step of a kink; generated inputs put a kink
	// inside a step only by rare chance, so more means a discontinuous
	// gradient.
	maxKinkFraction = 0.1
)

// Run checks, inside a test, the objective p configures from params: every
// check of [Check] except latency, each as a subtest that fails with the
// check's detail.
func Run(t *testing.T, p core.Provider, params map[string]any) {
	t.Helper()
	r := Check(t.Context(), p, params, Options{SkipLatency: true})
	for _, o := range r.Checks {
		t.Run(o.Name, func(t *testing.T) {
			if !o.Passed {
				t.Error(o.Detail)
			} else if o.Detail != "" {
				t.Log(o.Detail)
			}
		})
	}
}
