package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance/internal/broken"
)

// outcome returns the named check of r.
func outcome(t *testing.T, r *Report, name string) Outcome {
	t.Helper()
	for _, o := range r.Checks {
		if o.Name == name {
			return o
		}
	}
	require.Failf(t, "no such check", "%s in %+v", name, r.Checks)
	return Outcome{}
}

// Each defect fails its check with a message that says what went wrong; the
// control objective passes every check.
func TestCheckFailsBrokenObjectives(t *testing.T) {
	cases := []struct {
		mode, check, want string
	}{
		{"sign", "gradient", "analytic"},
		{"mutate", "not_mutated", "Compute modified the batch in 12 of 12 calls; first: n=1/batch=0: policy_chosen_logps[0] is"},
		{"mutate", "not_mutated", "the reply depends on earlier calls"},
		{"nondeterministic", "deterministic", "loss is"},
		{"hang", "valid_result", "Compute did not answer within 200ms"},
		{"hang", "bad_input", "not run: Compute did not answer within 200ms"},
	}
	for _, tc := range cases {
		t.Run(tc.mode+"/"+tc.check, func(t *testing.T) {
			r := Check(t.Context(), core.Local(broken.Definition(tc.mode)), nil, Options{Timeout: 200 * time.Millisecond, SkipLatency: true})
			assert.True(t, r.Failed())
			o := outcome(t, r, tc.check)
			assert.False(t, o.Passed)
			assert.Contains(t, o.Detail, tc.want)
		})
	}
	r := Check(t.Context(), core.Local(broken.Definition("")), nil, Options{LatencySizes: []int{16}, LatencyCalls: 5})
	assert.False(t, r.Failed(), "%+v", r.Checks)
	require.Len(t, r.Latency, 1)
	assert.Equal(t, 16, r.Latency[0].Examples)
	assert.Equal(t, 5, r.Latency[0].Calls)
	assert.LessOrEqual(t, r.Latency[0].P50Ms, r.Latency[0].P99Ms)
}

// The text report has one PASS or FAIL line per check and a summary.
func TestReportText(t *testing.T) {
	r := Check(t.Context(), core.Local(broken.Definition("sign")), map[string]any{"beta": 0.5}, Options{SkipLatency: true})
	var b strings.Builder
	require.NoError(t, r.WriteText(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.Equal(t, "objective broken 0.0.1, params {beta=0.5}, inputs policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps", lines[0])
	assert.Contains(t, b.String(), "PASS spec\n")
	assert.Contains(t, b.String(), "FAIL gradient: n=1/batch=0: grads.policy_chosen_logps[0]")
	assert.Equal(t, "FAIL: 1 of 12 checks failed", lines[len(lines)-1])
}

// A spec whose bounds and enums contradict themselves, and an objective
// that accepts any parameter, fail the spec and parameter checks.
func TestCheckSpecAndParams(t *testing.T) {
	d := broken.Definition("")
	d.Spec.Name = "Broken"
	d.Spec.Params = append(d.Spec.Params,
		core.ParamSpec{Name: "mode", Type: core.TypeString, Default: "a", Enum: []string{"a", "a"}, Doc: "x"},
		core.ParamSpec{Name: "k", Type: core.TypeInt, Min: core.Bound(2), Max: core.Bound(1)})
	r := Check(t.Context(), lenient{core.Local(d)}, nil, Options{SkipLatency: true})
	spec := outcome(t, r, "spec")
	assert.False(t, spec.Passed)
	for _, want := range []string{`name "Broken": want lower case`, `enum value "a" listed twice`, `params[2] "k": empty range [2, 1]`, `params[2] "k": no doc`} {
		assert.Contains(t, spec.Detail, want)
	}
	assert.Contains(t, outcome(t, r, "params/unknown").Detail, "conformance_no_such_param = unknown parameter (1): accepted, want a parameter diagnostic")
	assert.Contains(t, outcome(t, r, "params/invalid").Detail, "beta = 0, below (0, inf) (0): accepted")
}

// lenient ignores the parameters it is given, as a careless plugin might.
type lenient struct{ core.Provider }

func (l lenient) Configure(ctx context.Context, _ map[string]any) (core.Objective, core.Params, error) {
	return l.Provider.Configure(ctx, nil)
}
