package core

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lossSpec mirrors TRL's list-valued loss_type with per-loss weights.
var lossSpec = Spec{Name: "multi", Params: []ParamSpec{
	{Name: "loss_type", Type: TypeStringList, Default: []string{"sigmoid"}, Enum: []string{"sigmoid", "hinge", "sft"}, MinItems: 1},
	{Name: "loss_weights", Type: TypeFloatList, Min: Bound(0), SameLengthAs: "loss_type"},
	{Name: "steps", Type: TypeIntList, Min: Bound(1), MaxItems: 3},
}}

func TestResolveLists(t *testing.T) {
	require.NoError(t, lossSpec.Validate())
	tests := []struct {
		name string
		raw  map[string]any
		want map[string]any
		err  string
	}{
		{"defaults", nil, map[string]any{"loss_type": []string{"sigmoid"}}, ""},
		{"toml arrays", map[string]any{"loss_type": []any{"sigmoid", "sft"}, "loss_weights": []any{1.0, int64(2)}},
			map[string]any{"loss_type": []string{"sigmoid", "sft"}, "loss_weights": []float64{1, 2}}, ""},
		{"typed slices", map[string]any{"steps": []int{1, 5}},
			map[string]any{"loss_type": []string{"sigmoid"}, "steps": []int64{1, 5}}, ""},
		{"integral floats as ints", map[string]any{"steps": []any{2.0}},
			map[string]any{"loss_type": []string{"sigmoid"}, "steps": []int64{2}}, ""},
		{"element enum", map[string]any{"loss_type": []any{"sigmoid", "robust"}}, nil,
			`parameter "loss_type": element 1 must be one of sigmoid, hinge, sft, got "robust"`},
		{"element bound", map[string]any{"loss_weights": []any{-1.0}, "loss_type": []string{"sft"}}, nil,
			`parameter "loss_weights": element 0 must be >= 0, got -1`},
		{"element type", map[string]any{"loss_weights": []any{"x"}}, nil,
			`parameter "loss_weights": element 0 must be a number, got string "x"`},
		{"non-finite element", map[string]any{"loss_weights": []float64{math.Inf(1)}}, nil,
			`parameter "loss_weights": element 0 must be finite, got +Inf`},
		{"too few", map[string]any{"loss_type": []any{}}, nil, `parameter "loss_type": must have at least 1 elements, got 0`},
		{"too many", map[string]any{"steps": []any{1, 2, 3, 4}}, nil, `parameter "steps": must have 0 to 3 elements, got 4`},
		{"scalar for a list", map[string]any{"loss_type": "sft"},
			map[string]any{"loss_type": []string{"sft"}}, ""},
		{"map for a list", map[string]any{"loss_type": map[string]any{"a": 1}}, nil,
			`parameter "loss_type": must be a list of strings, got map[string]interface {}`},
		{"lengths differ from default", map[string]any{"loss_weights": []any{1.0, 0.5}}, nil,
			`parameter "loss_weights": must have as many elements as loss_type (1), got 2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := lossSpec.Resolve(tc.raw)
			if tc.err != "" {
				require.Error(t, err)
				assert.Equal(t, tc.err, err.Error())
				var pe *ParamError
				assert.True(t, errors.As(err, &pe))
				return
			}
			require.NoError(t, err)
			if tc.want != nil {
				assert.Equal(t, tc.want, p.Values())
			}
		})
	}

	p, err := lossSpec.Resolve(map[string]any{"loss_type": []any{"sigmoid", "sft"}, "loss_weights": []any{1.0, 0.5}})
	require.NoError(t, err)
	assert.Equal(t, []string{"sigmoid", "sft"}, p.StringList("loss_type"))
	w := p.FloatList("loss_weights")
	w[0] = 99
	assert.Equal(t, []float64{1, 0.5}, p.FloatList("loss_weights"), "getters return copies")
	assert.Equal(t, map[string]any{"loss_type": []string{"sigmoid", "sft"}, "loss_weights": []float64{1, 0.5}}, p.SetValues())

	scalar := Spec{Name: "s", Params: []ParamSpec{{Name: "beta", Type: TypeFloat}}}
	_, err = scalar.Resolve(map[string]any{"beta": []any{1.0}})
	require.Error(t, err)
	assert.Equal(t, `parameter "beta": must be a number, got list [1]`, err.Error())
}

func TestValidateLists(t *testing.T) {
	for _, tc := range []struct {
		p   ParamSpec
		err string
	}{
		{ParamSpec{Name: "a", Type: TypeFloat, MinItems: 1}, `parameter "a": MinItems, MaxItems and SameLengthAs apply only to lists`},
		{ParamSpec{Name: "a", Type: TypeIntList, MinItems: 3, MaxItems: 2}, `want 0 <= MinItems <= MaxItems (or MaxItems 0), got 3 and 2`},
		{ParamSpec{Name: "a", Type: TypeIntList, SameLengthAs: "c"}, `SameLengthAs "c" is not another list parameter`},
		{ParamSpec{Name: "a", Type: TypeIntList, SameLengthAs: "a"}, `SameLengthAs "a" is not another list parameter`},
		{ParamSpec{Name: "a", Type: TypeStringList, Default: []string{"x"}, Enum: []string{"y"}}, `default of parameter "a": element 0 must be one of y, got "x"`},
		{ParamSpec{Name: "a", Type: TypeStringList + 1}, "unknown type ParamType(8)"},
		{ParamSpec{Name: "a", Type: TypeIntList, Default: []int64{1}, SameLengthAs: "b"},
			`parameter "a": default has 1 elements but the default of b has 2`},
	} {
		b := ParamSpec{Name: "b", Type: TypeIntList, Default: []int64{1, 2}}
		err := Spec{Name: "s", Params: []ParamSpec{tc.p, b}}.Validate()
		require.Error(t, err, "%+v", tc.p)
		assert.Contains(t, err.Error(), tc.err)
	}
}

func TestParseParamJSON(t *testing.T) {
	tests := []struct {
		in   string
		want any
		err  string
	}{
		{`["sigmoid","sft"]`, []any{"sigmoid", "sft"}, ""},
		{`[1.0, 0.5]`, []any{1.0, 0.5}, ""},
		{`[1, 2]`, []any{int64(1), int64(2)}, ""},
		{` [] `, []any{}, ""},
		{`0.1`, 0.1, ""},
		{`3`, int64(3), ""},
		{`1e2`, 100.0, ""},
		{`true`, true, ""},
		{`"x"`, "x", ""},
		{`99999999999999999999`, 1e20, ""},
		{`[[1]]`, nil, "want a number, string, bool or an array of them, got a nested array"},
		{`{"a": 1}`, nil, "got an object"},
		{`null`, nil, "null is not a value"},
		{`[1, null]`, nil, "null is not a value"},
		{`[1,`, nil, "invalid JSON"},
		{`1 2`, nil, "trailing data after the JSON value"},
		{``, nil, "invalid JSON"},
		{`1e400`, nil, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseParamJSON(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.True(t, strings.HasPrefix(err.Error(), "core: param value "), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// FuzzParseParamJSON: whatever parses is a value Resolve takes without
// panicking, as a scalar or a list of either kind.
func FuzzParseParamJSON(f *testing.F) {
	for _, s := range []string{`["sigmoid","sft"]`, `[1, 0.5]`, `3`, `"x"`, `[true]`, `[[1]]`, `{}`} {
		f.Add(s)
	}
	spec := Spec{Name: "f", Params: []ParamSpec{
		{Name: "s", Type: TypeStringList}, {Name: "f", Type: TypeFloatList}, {Name: "i", Type: TypeIntList},
		{Name: "x", Type: TypeFloat}, {Name: "b", Type: TypeBool},
	}}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseParamJSON(s)
		if err != nil {
			if v != nil {
				t.Fatalf("value %v with error %v", v, err)
			}
			return
		}
		for _, name := range spec.ParamNames() {
			_, err := spec.Resolve(map[string]any{name: v})
			var pe *ParamError
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("%s = %v: untyped error %v", name, v, err)
			}
		}
	})
}

func ExampleParseParamJSON() {
	v, _ := ParseParamJSON(`["sigmoid", "sft"]`)
	w, _ := ParseParamJSON(`[1, 0.5]`)
	p, err := lossSpec.Resolve(map[string]any{"loss_type": v, "loss_weights": w})
	fmt.Println(p.StringList("loss_type"), p.FloatList("loss_weights"), err)
	// Output: [sigmoid sft] [1 0.5] <nil>
}
