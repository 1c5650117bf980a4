package core

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenBatch has two pairs of 2 and 1 chosen tokens, summed and per token,
// and a score column.
func tokenBatch() *Batch {
	b := &Batch{
		PolicyChosenLogps:      []float64{-3, -0.5},
		ChosenLengths:          []int64{2, 1},
		PolicyChosenTokenLogps: [][]float64{{-1, -2}, {-0.5}},
		PolicyChosenWPOLogps:   []float64{-0.2, 0.1},
	}
	b.SetColumn("column.score", []float64{7, 8})
	return b
}

var tokenInputs = []string{PolicyChosenLogps, ChosenLengths, PolicyChosenTokenLogps, PolicyChosenWPOLogps, "column.score"}

func TestBatchCheckTokensAndColumns(t *testing.T) {
	require.NoError(t, tokenBatch().Check(tokenInputs))
	cases := []struct {
		name   string
		inputs []string
		edit   func(*Batch)
		code   Code
		field  string
		index  int
		msg    string
	}{
		{"token count differs from length", tokenInputs, func(b *Batch) { b.PolicyChosenTokenLogps[1] = []float64{-0.25, -0.25} },
			CodeLengthMismatch, PolicyChosenTokenLogps, 1, "policy_chosen_token_logps[1]: has 2 tokens but chosen_lengths[1] is 1"},
		{"token not finite", tokenInputs, func(b *Batch) { b.PolicyChosenTokenLogps[0][1] = math.Inf(1) },
			CodeNonFinite, PolicyChosenTokenLogps, 0, "policy_chosen_token_logps[0]: token 1 not finite (got +Inf)"},
		{"fewer arrays than examples", tokenInputs, func(b *Batch) { b.PolicyChosenTokenLogps = b.PolicyChosenTokenLogps[:1] },
			CodeLengthMismatch, PolicyChosenTokenLogps, -1, "policy_chosen_token_logps: has 1 elements but chosen_lengths has 2"},
		{"lengths not read", []string{PolicyChosenTokenLogps}, func(*Batch) {},
			CodeMissingInput, ChosenLengths, -1, "chosen_lengths: the objective reads policy_chosen_token_logps and must read its lengths too"},
		{"negative length before shape", tokenInputs, func(b *Batch) { b.ChosenLengths[0] = -2 },
			CodeOutOfRange, ChosenLengths, 0, "chosen_lengths[0]: negative token count (got -2)"},
		{"column missing", tokenInputs, func(b *Batch) { b.SetColumn("column.score", nil) },
			CodeMissingInput, "column.score", -1, "column.score: required by the objective but absent"},
		{"column short", tokenInputs, func(b *Batch) { b.SetColumn("column.score", []float64{1}) },
			CodeLengthMismatch, "column.score", -1, "column.score: has 1 elements but policy_chosen_wpo_logps has 2"},
		{"column not finite", tokenInputs, func(b *Batch) { (*b.Floats("column.score"))[1] = math.NaN() },
			CodeNonFinite, "column.score", 1, "column.score[1]: not finite (got NaN)"},
		{"wpo not finite", tokenInputs, func(b *Batch) { b.PolicyChosenWPOLogps[0] = math.Inf(-1) },
			CodeNonFinite, PolicyChosenWPOLogps, 0, "policy_chosen_wpo_logps[0]: not finite (got -Inf)"},
		{"malformed column name", []string{"column.", PolicyChosenLogps}, func(*Batch) {},
			CodeUnknownInput, "column.", -1, "column.: not an input this version of prefopt knows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tokenBatch()
			tc.edit(b)
			err := b.Check(tc.inputs)
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.code, ie.Code)
			assert.Equal(t, tc.field, ie.Field)
			assert.Equal(t, tc.index, ie.Index)
			assert.Equal(t, tc.msg, err.Error())
		})
	}
}

func TestCheckResultTokenGrads(t *testing.T) {
	b := tokenBatch()
	inputs := []string{PolicyChosenLogps, ChosenLengths, PolicyChosenTokenLogps}
	good := func() *Result {
		return &Result{Loss: 1, Losses: []float64{1, 1},
			Grads:      map[string][]float64{PolicyChosenLogps: {0.1, 0.2}},
			TokenGrads: map[string][][]float64{PolicyChosenTokenLogps: {{0.1, 0.2}, {0.3}}}}
	}
	require.NoError(t, CheckResult(b, inputs, good()))
	cases := []struct {
		name string
		edit func(*Result)
		want string
	}{
		{"missing", func(r *Result) { r.TokenGrads = nil }, "reply token_grads.policy_chosen_token_logps: missing gradient for a policy input"},
		{"too few arrays", func(r *Result) { r.TokenGrads[PolicyChosenTokenLogps] = r.TokenGrads[PolicyChosenTokenLogps][:1] },
			"reply token_grads.policy_chosen_token_logps: has 1 arrays for 2 examples"},
		{"row too long", func(r *Result) { r.TokenGrads[PolicyChosenTokenLogps][1] = []float64{1, 2} },
			"reply token_grads.policy_chosen_token_logps[1]: has 2 values for 1 tokens (got 2)"},
		{"not finite", func(r *Result) { r.TokenGrads[PolicyChosenTokenLogps][0][1] = math.NaN() },
			"reply token_grads.policy_chosen_token_logps[0]: token 1 not finite (got NaN)"},
		{"per-token gradient in Grads", func(r *Result) { r.Grads[PolicyChosenTokenLogps] = []float64{1, 2, 3} },
			"reply grads.policy_chosen_token_logps: gradient for an input that is not a per-example policy input the objective read"},
		{"per-example gradient in TokenGrads", func(r *Result) { r.TokenGrads[PolicyChosenLogps] = [][]float64{{1}, {2}} },
			"reply token_grads.policy_chosen_logps: gradient for an input that is not a per-token policy input the objective read"},
		{"gradient for a column", func(r *Result) { r.Grads["column.score"] = []float64{1, 2} },
			"reply grads.column.score: gradient for an input that is not a per-example policy input the objective read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.edit(r)
			err := CheckResult(b, inputs, r)
			var re *ReplyError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestBatchJSONTokensAndColumns(t *testing.T) {
	in := `{"policy_chosen_token_logps": [[-1, -2], [-0.5]], "chosen_lengths": [2, 1], "column.score": [7, 8],
		"policy_chosen_logps": [-3, -0.5], "policy_chosen_wpo_logps": [-0.2, 0.1]}`
	b, err := DecodeBatchJSON(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, tokenBatch(), b)

	out, err := json.Marshal(b)
	require.NoError(t, err)
	assert.True(t, bytes.HasSuffix(out, []byte(`,"column.score":[7,8]}`)), "%s", out)
	var back Batch
	require.NoError(t, json.Unmarshal(out, &back))
	assert.Equal(t, b, &back)

	only := &Batch{}
	only.SetColumn("column.a", []float64{1})
	out, err = json.Marshal(only)
	require.NoError(t, err)
	assert.Equal(t, `{"column.a":[1]}`, string(out))
	out, err = json.Marshal(struct{ B Batch }{*only})
	require.NoError(t, err)
	assert.Equal(t, `{"B":{"column.a":[1]}}`, string(out), "a Batch value keeps its columns")

	for _, tc := range []struct{ in, want string }{
		{`{"policy_chosen_token_logps": [-1, -2]}`, "batch: field policy_chosen_token_logps: cannot use JSON number as []float64"},
		{`{"column.score": [true]}`, "batch: field column.score: cannot use JSON bool as float64"},
		{`{"column.": [1]}`, `batch: unknown field "column." (known: policy_chosen_logps,`},
		{`{"column.a b": [1]}`, `and column.<key> for data columns)`},
		{`null`, "batch: want a JSON object of named arrays, got null"},
		{`[1]`, "batch: want a JSON object of named arrays, got JSON array"},
	} {
		_, err := DecodeBatchJSON(strings.NewReader(tc.in))
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want, tc.in)
	}
}

func TestColumns(t *testing.T) {
	b := &Batch{}
	for _, name := range []string{"column.b", "column.a", "column.c"} {
		b.SetColumn(name, []float64{1})
	}
	names := func() []string {
		var out []string
		for _, c := range b.Columns {
			out = append(out, c.Name)
		}
		return out
	}
	assert.Equal(t, []string{"column.a", "column.b", "column.c"}, names(), "kept sorted")
	b.SetColumn("column.b", nil)
	assert.Equal(t, []string{"column.a", "column.c"}, names())
	assert.False(t, b.Has("column.b"))
	assert.Nil(t, b.Floats("column.b"), "absent column")
	(*b.Floats("column.a"))[0] = 5
	assert.Equal(t, []float64{5}, b.Columns[0].Values, "Floats writes through")

	c := b.Clone()
	c.Columns[0].Values[0] = 6
	assert.Equal(t, 5.0, b.Columns[0].Values[0], "Clone copies columns")
	tb := tokenBatch()
	tc := tb.Clone()
	tc.PolicyChosenTokenLogps[0][0] = 0
	assert.Equal(t, -1.0, tb.PolicyChosenTokenLogps[0][0], "Clone copies token arrays")
	assert.Equal(t, 2, tb.Len(PolicyChosenTokenLogps), "Len counts examples")

	assert.Panics(t, func() { b.SetColumn("score", []float64{1}) })

	for _, name := range []string{"column.score_chosen", "column.a-1", "column.X"} {
		_, ok := ColumnOf(name)
		assert.True(t, ok, name)
		f, ok := LookupField(name)
		assert.True(t, ok && f.Column && f.Kind == Float && !f.Policy, name)
	}
	for _, name := range []string{"column.", "score", "column.a.b", "column.é"} {
		_, ok := ColumnOf(name)
		assert.False(t, ok, name)
	}
	assert.Equal(t, "column.margin", ColumnInput("margin"))
}

func TestInputLess(t *testing.T) {
	names := []string{"zzz", "column.b", ReferenceTokenLogps, "column.a", PolicyChosenLogps, PolicyChosenTokenLogps, ChosenLengths}
	slices.SortFunc(names, func(a, b string) int {
		if InputLess(a, b) {
			return -1
		}
		if InputLess(b, a) {
			return 1
		}
		return 0
	})
	assert.Equal(t, []string{PolicyChosenLogps, ChosenLengths, PolicyChosenTokenLogps, ReferenceTokenLogps, "column.a", "column.b", "zzz"}, names)
}

func TestTokenFieldsNameTheirLengths(t *testing.T) {
	for _, f := range Fields {
		if f.Kind != TokenFloat {
			assert.Empty(t, f.Lengths, f.Name)
			continue
		}
		l, ok := LookupField(f.Lengths)
		require.True(t, ok, "%s: lengths %q", f.Name, f.Lengths)
		assert.Equal(t, Count, l.Kind, f.Name)
		assert.Equal(t, f.Layout, l.Layout, f.Name)
		assert.NotNil(t, (&Batch{}).Tokens(f.Name), f.Name)
	}
}
