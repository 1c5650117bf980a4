package core

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeBatchJSON(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"unknown field", `{"policy_logps": [-1], "bogus": 1}`, `batch: unknown field "bogus" (known: policy_chosen_logps,`},
		{"wrong type", `{"labels": [1]}`, "batch: field labels: cannot use JSON number as bool"},
		{"count not integer", `{"lengths": [1.5]}`, "batch: field lengths: cannot use JSON number 1.5 as int64"},
		{"syntax", `{"policy_logps": [-1,}`, "batch: invalid JSON at byte"},
		{"empty", ``, "batch: empty input"},
		{"trailing", `{"policy_logps": [-1]} {}`, "batch: trailing data after the JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBatchJSON(strings.NewReader(tc.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	b, err := DecodeBatchJSON(strings.NewReader(`{"policy_chosen_logps": [-1.5, -2], "chosen_lengths": [3, 4], "labels": [true]}`))
	require.NoError(t, err)
	assert.Equal(t, []float64{-1.5, -2}, b.PolicyChosenLogps)
	assert.Equal(t, []int64{3, 4}, b.ChosenLengths)
	assert.Equal(t, []bool{true}, b.Labels)
	assert.Nil(t, b.PolicyRejectedLogps)
}

func TestBatchCheck(t *testing.T) {
	good := func() *Batch {
		return &Batch{PolicyChosenLogps: []float64{-1, -2}, PolicyRejectedLogps: []float64{-3, -4},
			ChosenLengths: []int64{1, 2}, PolicyLogps: []float64{-1}}
	}
	in := []string{PolicyChosenLogps, PolicyRejectedLogps, ChosenLengths}
	require.NoError(t, good().Check(in))
	cases := []struct {
		name  string
		edit  func(*Batch)
		code  Code
		field string
		index int
	}{
		{"missing", func(b *Batch) { b.PolicyRejectedLogps = nil }, CodeMissingInput, PolicyRejectedLogps, -1},
		{"empty", func(b *Batch) { b.PolicyChosenLogps = []float64{} }, CodeEmptyBatch, PolicyChosenLogps, -1},
		{"mismatch", func(b *Batch) { b.ChosenLengths = []int64{1} }, CodeLengthMismatch, ChosenLengths, -1},
		{"nan", func(b *Batch) { b.PolicyRejectedLogps[1] = math.NaN() }, CodeNonFinite, PolicyRejectedLogps, 1},
		{"inf", func(b *Batch) { b.PolicyChosenLogps[0] = math.Inf(-1) }, CodeNonFinite, PolicyChosenLogps, 0},
		{"negative count", func(b *Batch) { b.ChosenLengths[1] = -1 }, CodeOutOfRange, ChosenLengths, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := good()
			tc.edit(b)
			err := b.Check(in)
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.code, ie.Code)
			assert.Equal(t, tc.field, ie.Field)
			assert.Equal(t, tc.index, ie.Index)
		})
	}
	err := good().Check([]string{"per_token_logps"})
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, CodeUnknownInput, ie.Code)
}

// FuzzDecodeBatchJSON: any input either decodes to a batch that survives a
// JSON round trip unchanged, or gives an error prefixed "batch:"; never a
// panic.
func FuzzDecodeBatchJSON(f *testing.F) {
	for _, s := range []string{
		`{"policy_chosen_logps": [-1, -2], "policy_rejected_logps": [-3, -4]}`,
		`{"policy_logps": [-1], "labels": [true], "lengths": [3]}`,
		`{"chosen_lengths": [1e3]}`, `{}`, `[]`, `null`, `{"labels": [null]}`,
		`{"policy_chosen_token_logps": [[-1, -2], [], null], "column.score": [1, 2]}`,
		`{"column.a": null, "column.b": [], "policy_token_logps": []}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := DecodeBatchJSON(bytes.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "batch:") {
				t.Fatalf("error without the batch: prefix: %v", err)
			}
			return
		}
		out, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("decoded batch does not re-encode: %v", err)
		}
		b2, err := DecodeBatchJSON(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(b2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the batch:\n%s\n%s", out, out2)
		}
	})
}
