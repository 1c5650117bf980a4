package conformance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/internal/tokenobjective"
)

// defective wraps the per-token test objective with one defect, named by
// mode, in what the suite checks about per-token inputs and data columns.
type defective struct {
	core.Objective
	mode  string
	calls int
}

func (d *defective) Inputs() []string {
	in := d.Objective.Inputs()
	if d.mode == "no_lengths" {
		return slices.DeleteFunc(in, func(s string) bool { return s == core.ChosenLengths })
	}
	return in
}

func (d *defective) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	d.calls++
	r, err := d.Objective.Compute(ctx, b)
	var ie *core.InputError
	switch {
	case d.mode == "token_index" && errors.As(err, &ie) && ie.Code == core.CodeLengthMismatch:
		ie.Index = -1
	case err != nil:
	case d.mode == "token_grad":
		// The second token of every chosen completion gets twice its gradient.
		for _, row := range r.TokenGrads[core.PolicyChosenTokenLogps] {
			if len(row) > 1 {
				row[1] *= 2
			}
		}
	case d.mode == "token_nondeterministic":
		r.TokenGrads[core.PolicyRejectedTokenLogps][0][0] += float64(d.calls) * 1e-12
	case d.mode == "mutate_tokens":
		b.PolicyChosenTokenLogps[0][0]++
	case d.mode == "mutate_column":
		(*b.Floats(tokenobjective.Margin))[0]++
	}
	return r, err
}

type defectiveProvider struct {
	core.Provider
	mode string
}

func (p defectiveProvider) Configure(ctx context.Context, params map[string]any) (core.Objective, core.Params, error) {
	o, ps, err := p.Provider.Configure(ctx, params)
	if err != nil {
		return nil, ps, err
	}
	return &defective{Objective: o, mode: p.mode}, ps, nil
}

// Each defect in per-token gradients, token arrays, data columns or inputs
// fails its check with a message naming the input; the undamaged objective
// passes every check.
func TestCheckFailsPerTokenDefects(t *testing.T) {
	cases := []struct {
		mode, check, want string
	}{
		{"token_grad", "gradient", "token_grads.policy_chosen_token_logps["},
		{"token_nondeterministic", "deterministic", "token_grads.policy_rejected_token_logps[0][0] is"},
		{"mutate_tokens", "not_mutated", "policy_chosen_token_logps[0][0] is"},
		{"mutate_column", "not_mutated", "column.margin[0] is"},
		{"no_lengths", "inputs", "reads policy_chosen_token_logps and must read its lengths chosen_lengths"},
		{"token_index", "bad_input", "token_count/policy_chosen_token_logps: got length_mismatch for policy_chosen_token_logps"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			p := defectiveProvider{core.Local(tokenobjective.Definition()), tc.mode}
			r := Check(t.Context(), p, nil, Options{Timeout: time.Minute, SkipLatency: true})
			o := outcome(t, r, tc.check)
			assert.False(t, o.Passed)
			assert.Contains(t, o.Detail, tc.want)
		})
	}
	r := Check(t.Context(), defectiveProvider{core.Local(tokenobjective.Definition()), ""}, nil, Options{Timeout: time.Minute, SkipLatency: true})
	assert.False(t, r.Failed(), "%+v", r.Checks)
	assert.Positive(t, outcome(t, r, "gradient").Numbers["points"])
}

// A list parameter's spec is checked element-wise, and an objective that
// accepts bad list values fails the parameter check for each.
func TestCheckListParams(t *testing.T) {
	d := tokenobjective.Definition()
	d.Spec.Params = append(d.Spec.Params,
		core.ParamSpec{Name: "names", Type: core.TypeStringList, Enum: []string{"a", "b"}, Doc: "x"},
		core.ParamSpec{Name: "steps", Type: core.TypeIntList, Min: core.Bound(1), MinItems: 3, MaxItems: 2, Doc: "x"},
		core.ParamSpec{Name: "flags", Type: core.TypeBool, Enum: []string{"x"}, Doc: "x"})
	r := Check(t.Context(), lenient{core.Local(d)}, nil, Options{SkipLatency: true})
	spec := outcome(t, r, "spec")
	assert.False(t, spec.Passed)
	assert.Contains(t, spec.Detail, `params[2] "steps": empty item range: at least 3, at most 2 elements`)
	assert.Contains(t, spec.Detail, `params[3] "flags": enum on a bool parameter`)
	assert.NotContains(t, spec.Detail, `"names"`, "an enum on a string list is allowed")
	assert.NotContains(t, spec.Detail, `"weights"`, "bounds on a float list are allowed")
	invalid := outcome(t, r, "params/invalid")
	for _, want := range []string{
		`weights = a list holding NaN ([NaN]): accepted`, `weights = a list holding -1, below [0, inf) ([-1]): accepted`,
		`weights = an empty list, fewer than 2 elements ([]): accepted`, `names = a list holding a number ([1]): accepted`,
	} {
		assert.Contains(t, invalid.Detail, want)
	}
	// weights: a string, NaN, below Min, empty; names: a number, outside
	// the enum; steps: a string, a non-integer, below Min, empty; flags: a
	// string. All 11 are accepted by the lenient provider.
	assert.Equal(t, 11.0, invalid.Numbers["cases"])
	assert.Contains(t, invalid.Detail, "... and 6 more")
}

// Invalid values of a list parameter are lists of one invalid element,
// and an empty list when elements are required.
func TestInvalidListValues(t *testing.T) {
	got := invalidValues(core.ParamSpec{Name: "names", Type: core.TypeStringList, Enum: []string{"a"}, MinItems: 1})
	assert.Equal(t, map[string]any{
		"a list holding a number":                 []any{1.0},
		"a list holding a value outside the enum": []any{"conformance-not-an-option"},
		"an empty list, fewer than 1 elements":    []any{},
	}, got)
	// Every value is one that core itself refuses.
	steps := core.ParamSpec{Name: "steps", Type: core.TypeIntList, Min: core.Bound(1), MinItems: 1, Doc: "x"}
	spec := core.Spec{Name: "s", Params: []core.ParamSpec{steps}}
	vals := invalidValues(steps)
	assert.Len(t, vals, 4)
	for what, v := range vals {
		_, err := spec.Resolve(map[string]any{"steps": v})
		assert.True(t, errorNames(err, "steps"), "%s: %v", what, err)
	}
}
