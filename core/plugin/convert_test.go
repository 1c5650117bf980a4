package plugin

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	pb "github.com/prefopt/prefopt/core/internal/objectivev1"
	"github.com/prefopt/prefopt/core/internal/tokenobjective"
)

// wire sends m through its protobuf encoding, as gRPC does.
func wire[M proto.Message](t testing.TB, m M, into M) M {
	t.Helper()
	raw, err := proto.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, proto.Unmarshal(raw, into))
	return into
}

// TestListsTokensAndColumnsCrossTheWire drives the server through encoded
// messages with an objective that has a list parameter and reads per-token
// inputs and a data column, and compares with the objective in process.
func TestListsTokensAndColumnsCrossTheWire(t *testing.T) {
	def := tokenobjective.Definition()
	srv := &server{def: def}
	ctx := context.Background()

	spec, err := srv.GetSpec(ctx, &pb.GetSpecRequest{})
	require.NoError(t, err)
	got := specFromPB(wire(t, spec, &pb.GetSpecResponse{}).GetSpec())
	assert.Equal(t, def.Spec, got, "list type, default and item bounds survive")
	require.NoError(t, got.Validate())

	params := map[string]any{"weights": []any{0.5, int64(2)}} // as TOML decodes [0.5, 2]
	values, err := valuesToPB(params)
	require.NoError(t, err)
	cresp, err := srv.Configure(ctx, wire(t, &pb.ConfigureRequest{Params: values}, &pb.ConfigureRequest{}))
	require.NoError(t, err)
	cresp = wire(t, cresp, &pb.ConfigureResponse{})
	require.NoError(t, errorFromDiagnostics(cresp.GetDiagnostics()))
	assert.Equal(t, map[string]any{"weights": []float64{0.5, 2}}, valuesFromPB(cresp.GetResolved()))
	inputs := cresp.GetInputs()

	local, _, err := core.Local(def).Configure(ctx, params)
	require.NoError(t, err)
	require.Equal(t, local.Inputs(), inputs)
	b := conformance.RandomBatch(rand.New(rand.NewPCG(1, 1)), inputs, 5)

	resp, err := srv.Compute(ctx, wire(t, &pb.ComputeRequest{Inputs: batchToPB(b, inputs)}, &pb.ComputeRequest{}))
	require.NoError(t, err)
	resp = wire(t, resp, &pb.ComputeResponse{})
	require.NoError(t, errorFromDiagnostics(resp.GetDiagnostics()))
	remote := resultFromPB(resp)
	want, err := local.Compute(ctx, b)
	require.NoError(t, err)
	require.NoError(t, core.CheckResult(b, inputs, remote))
	assert.Equal(t, math.Float64bits(want.Loss), math.Float64bits(remote.Loss))
	assert.Equal(t, want.TokenGrads, remote.TokenGrads)
	assert.Empty(t, remote.Grads)

	// A bad per-token shape comes back as a typed diagnostic.
	b.PolicyRejectedTokenLogps[4] = append(b.PolicyRejectedTokenLogps[4], -1)
	resp, err = srv.Compute(ctx, &pb.ComputeRequest{Inputs: batchToPB(b, inputs)})
	require.NoError(t, err)
	var ie *core.InputError
	require.ErrorAs(t, errorFromDiagnostics(resp.GetDiagnostics()), &ie)
	assert.Equal(t, core.CodeLengthMismatch, ie.Code)
	assert.Equal(t, core.PolicyRejectedTokenLogps, ie.Field)
	assert.Equal(t, 4, ie.Index)
}

func TestRaggedRoundTrip(t *testing.T) {
	rows := [][]float64{{1}, {}, {2, 3}, {}}
	a := wire(t, raggedToPB(rows), &pb.Array{})
	assert.Equal(t, []int64{1, 0, 2, 0}, a.GetRowLengths())
	got, err := raggedFromPB(a)
	require.NoError(t, err)
	assert.Equal(t, rows, got)
}

func TestRaggedDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]*pb.Array
		want string
	}{
		{"row overruns", map[string]*pb.Array{core.PolicyTokenLogps: {Floats: []float64{1, 2}, RowLengths: []int64{1, 2}}},
			"policy_token_logps: row 1 of length 2 overruns the 2 packed values"},
		{"negative row", map[string]*pb.Array{core.PolicyTokenLogps: {Floats: []float64{1}, RowLengths: []int64{-1, 2}}},
			"policy_token_logps: row 0 of length -1 overruns the 1 packed values"},
		{"surplus values", map[string]*pb.Array{core.PolicyTokenLogps: {Floats: []float64{1, 2, 3}, RowLengths: []int64{1, 1}}},
			"policy_token_logps: row lengths add up to 2 but 3 values are packed"},
		{"rows on a per-example input", map[string]*pb.Array{core.PolicyLogps: {Floats: []float64{1}, RowLengths: []int64{1}}},
			"policy_logps: is one value per example but the array has row lengths"},
		{"ints for a column", map[string]*pb.Array{"column.x": {Ints: []int64{1}}},
			"column.x: is a float input but the array holds another element type"},
		{"ints for tokens", map[string]*pb.Array{core.PolicyTokenLogps: {Ints: []int64{1}, RowLengths: []int64{1}}},
			"policy_token_logps: is a per-token float input but the array holds another element type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := batchFromPB(tc.in)
			var ie *core.InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.want, err.Error())
		})
	}
	b, err := batchFromPB(map[string]*pb.Array{"column.m": {Floats: []float64{1}}, "future_input": {Floats: []float64{2}},
		core.PolicyTokenLogps: {}})
	require.NoError(t, err)
	assert.Equal(t, []float64{1}, *b.Floats("column.m"))
	assert.Equal(t, [][]float64{}, b.PolicyTokenLogps, "present with no examples")
}

// TestMalformedTokenGradsAreCaught: a reply whose row lengths do not fit
// its values still decodes, and core.CheckResult names the bad example.
func TestMalformedTokenGradsAreCaught(t *testing.T) {
	b := &core.Batch{Lengths: []int64{2, 1}, PolicyTokenLogps: [][]float64{{-1, -2}, {-3}}}
	inputs := []string{core.Lengths, core.PolicyTokenLogps}
	for _, tc := range []struct {
		name string
		g    *pb.Array
		want string
	}{
		{"short", &pb.Array{Floats: []float64{1, 2}, RowLengths: []int64{2, 1}}, "reply token_grads.policy_token_logps[1]: has 0 values for 1 tokens"},
		{"surplus", &pb.Array{Floats: []float64{1, 2, 3, 4}, RowLengths: []int64{2, 1}}, "reply token_grads.policy_token_logps[1]: has 2 values for 1 tokens"},
		{"shifted", &pb.Array{Floats: []float64{1, 2, 3}, RowLengths: []int64{1, 2}}, "reply token_grads.policy_token_logps[0]: has 1 values for 2 tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := resultFromPB(&pb.ComputeResponse{Loss: 1, Losses: []float64{1, 1}, Grads: map[string]*pb.Array{core.PolicyTokenLogps: tc.g}})
			err := core.CheckResult(b, inputs, r)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestListValues(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want any
	}{
		{[]any{"sigmoid", "sft"}, []string{"sigmoid", "sft"}},
		{[]any{int64(1), 2}, []int64{1, 2}},
		{[]any{int64(1), 0.5}, []float64{1, 0.5}},
		{[]any{}, []int64{}},
		{[]float64{1}, []float64{1}},
		{[]string{}, []string{}},
	} {
		v, err := valueToPB(tc.in)
		require.NoError(t, err, "%v", tc.in)
		assert.Equal(t, tc.want, valueFromPB(wire(t, v, &pb.Value{})), "%v", tc.in)
	}
	_, err := valueToPB([]any{"a", 1.0})
	assert.EqualError(t, err, "list mixes strings and numbers")
	_, err = valueToPB([]any{true})
	assert.EqualError(t, err, "list element 0: unsupported value of type bool")
}

// BenchmarkComputeRequest encodes and decodes a request of per-token
// inputs (two ragged arrays) against the same number of floats as plain
// per-example arrays, to show what the row lengths cost.
func BenchmarkComputeRequest(b *testing.B) {
	for _, size := range []struct{ pairs, tokens int }{{8, 128}, {64, 512}} {
		rng := rand.New(rand.NewPCG(1, 2))
		ragged := &core.Batch{ChosenLengths: make([]int64, size.pairs), RejectedLengths: make([]int64, size.pairs)}
		flat := &core.Batch{}
		for i := range size.pairs {
			for _, side := range []string{core.PolicyChosenTokenLogps, core.PolicyRejectedTokenLogps} {
				row := make([]float64, size.tokens)
				for t := range row {
					row[t] = -rng.Float64()
				}
				*ragged.Tokens(side) = append(*ragged.Tokens(side), row)
			}
			ragged.ChosenLengths[i], ragged.RejectedLengths[i] = int64(size.tokens), int64(size.tokens)
		}
		for _, rows := range ragged.PolicyChosenTokenLogps {
			flat.PolicyChosenLogps = append(flat.PolicyChosenLogps, rows...)
		}
		for _, rows := range ragged.PolicyRejectedTokenLogps {
			flat.PolicyRejectedLogps = append(flat.PolicyRejectedLogps, rows...)
		}
		cases := []struct {
			name   string
			b      *core.Batch
			inputs []string
		}{
			{"per_token", ragged, []string{core.ChosenLengths, core.RejectedLengths, core.PolicyChosenTokenLogps, core.PolicyRejectedTokenLogps}},
			{"same_floats_per_example", flat, []string{core.PolicyChosenLogps, core.PolicyRejectedLogps}},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/pairs=%d/tokens=%d", c.name, size.pairs, size.tokens), func(b *testing.B) {
				b.SetBytes(int64(2 * 8 * size.pairs * size.tokens))
				for b.Loop() {
					raw, err := proto.Marshal(&pb.ComputeRequest{Inputs: batchToPB(c.b, c.inputs)})
					if err != nil {
						b.Fatal(err)
					}
					var req pb.ComputeRequest
					if err := proto.Unmarshal(raw, &req); err != nil {
						b.Fatal(err)
					}
					if _, err := batchFromPB(req.GetInputs()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
