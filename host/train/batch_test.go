package train

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/objectives/dpo"
	"github.com/prefopt/prefopt/objectives/kto"
	"github.com/prefopt/prefopt/objectives/orpo"
	"github.com/prefopt/prefopt/objectives/simpo"
)

// configure builds an in-process objective from its definition.
func configure(t *testing.T, d core.Definition, params map[string]any) core.Objective {
	t.Helper()
	obj, _, err := core.Local(d).Configure(context.Background(), params)
	require.NoError(t, err)
	return obj
}

func TestLayoutOf(t *testing.T) {
	cases := []struct {
		name    string
		inputs  []string
		want    layout
		outputs int // for a batch of 5
	}{
		{"dpo", configure(t, dpo.Definition(), nil).Inputs(), layout{paired: true, reference: true}, 10},
		{"dpo reference-free", configure(t, dpo.Definition(), map[string]any{"reference_free": true}).Inputs(), layout{paired: true}, 10},
		{"simpo", configure(t, simpo.Definition(), nil).Inputs(), layout{paired: true}, 10},
		{"orpo", configure(t, orpo.Definition(), nil).Inputs(), layout{paired: true, prompt: true}, 15},
		{"kto", configure(t, kto.Definition(), nil).Inputs(), layout{reference: true, kl: true}, 10},
		{"nll", NLL{}.Inputs(), layout{}, 5},
		{"unpaired with reference, no KL", []string{core.PolicyLogps, core.ReferenceLogps, core.Labels}, layout{reference: true}, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := layoutOf(c.inputs)
			require.NoError(t, err)
			assert.Equal(t, c.want.paired, l.paired, "paired")
			assert.Equal(t, c.want.reference, l.reference, "reference")
			assert.Equal(t, c.want.prompt, l.prompt, "prompt")
			assert.Equal(t, c.want.kl, l.kl, "kl")
			assert.Equal(t, c.inputs, l.inputs)
			assert.Equal(t, c.outputs, l.capacity(5, 10))
		})
	}
}

func TestLayoutOfRejects(t *testing.T) {
	cases := []struct {
		name   string
		inputs []string
		want   string
	}{
		{"unknown input", []string{core.PolicyLogps, "policy_hidden_states"}, `"policy_hidden_states", which this host cannot provide`},
		{"paired and unpaired", []string{core.PolicyChosenLogps, core.PolicyLogps}, "both paired and unpaired"},
		{"no inputs", nil, "no per-example inputs"},
		{"no policy input", []string{core.ReferenceChosenLogps, core.ChosenLengths}, "reads no policy input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := layoutOf(c.inputs)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Regexp(t, `^train: `, err.Error())
		})
	}
}

// fakeLogp is a stand-in for a model's score of tokens[from:to], distinct
// for every (token, position) so a misplaced span or row shows.
func fakeLogp(tokens []int, from, to int) float64 {
	var s float64
	for j := from; j < to; j++ {
		s -= float64(tokens[j]+1) + 0.001*float64(j*j+1)
	}
	return s
}

// fakeForward evaluates a model batch with fakeLogp, following only the
// contract of model.Batch (outputs summed over spans of rows).
func fakeForward(outputs int) func(*model.Batch) ([]float64, error) {
	return func(b *model.Batch) ([]float64, error) {
		out := make([]float64, outputs)
		for _, s := range b.Spans {
			if s.From < 1 || s.To > len(b.Rows[s.Row]) || s.From > s.To {
				return nil, fmt.Errorf("bad span %+v", s)
			}
			out[s.Out] += fakeLogp(b.Rows[s.Row], s.From, s.To)
		}
		return out, nil
	}
}

// Rows with prompt lengths 0 (no BOS, empty prompt), 1 (BOS only) and 3.
var (
	rowP0 = data.Row{Tokens: []int{5, 6, 7}, PromptLen: 0}
	rowP1 = data.Row{Tokens: []int{1, 8, 9, 10}, PromptLen: 1}
	rowP3 = data.Row{Tokens: []int{1, 2, 3, 4, 5}, PromptLen: 3}
)

func TestSeqSpans(t *testing.T) {
	cases := []struct {
		name                 string
		row                  data.Row
		compFrom, compTo     int
		promptFrom, promptTo int
	}{
		// Token 0 has no prediction: an empty prompt scores the completion from 1.
		{"prompt length 0", rowP0, 1, 3, 1, 1},
		{"prompt length 1", rowP1, 1, 4, 1, 1},
		{"prompt length 3", rowP3, 3, 5, 1, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs, ps := completionSeq(c.row), promptSeq(c.row)
			assert.Equal(t, [2]int{c.compFrom, c.compTo}, [2]int{cs.From, cs.To}, "completion")
			assert.Equal(t, [2]int{c.promptFrom, c.promptTo}, [2]int{ps.From, ps.To}, "prompt")
			assert.Equal(t, int64(c.compTo-c.compFrom), seqLen(cs))
			assert.Equal(t, int64(c.promptTo-c.promptFrom), seqLen(ps))
			// Completion and prompt spans never overlap and, for a
			// prompt of at least one token, cover every scored position.
			assert.LessOrEqual(t, ps.To, cs.From)
			if c.row.PromptLen >= 1 {
				assert.Equal(t, len(c.row.Tokens)-1, seqLen64(cs)+seqLen64(ps))
			}
		})
	}
}

func seqLen64(s model.Seq) int { return int(seqLen(s)) }

func pairedSet(chosen, rejected []data.Row) *data.PairedSet {
	return &data.PairedSet{Chosen: chosen, Rejected: rejected, Source: make([]data.Source, len(chosen))}
}

func TestPairedAssembly(t *testing.T) {
	// Chosen and rejected rows share their prompt, as data.NewPairedSet makes them.
	chosen := []data.Row{rowP0, rowP1, rowP3}
	rejected := []data.Row{
		{Tokens: []int{5, 11}, PromptLen: 0},
		{Tokens: []int{1, 3, 3, 3, 3}, PromptLen: 1},
		{Tokens: []int{1, 2, 3, 9}, PromptLen: 3},
	}
	set := pairedSet(chosen, rejected)
	refC, refR := []float64{-1, -2, -3}, []float64{-4, -5, -6}
	cases := []struct {
		name   string
		inputs []string
	}{
		{"dpo", configure(t, dpo.Definition(), nil).Inputs()},
		{"simpo", configure(t, simpo.Definition(), nil).Inputs()},
		{"orpo", configure(t, orpo.Definition(), nil).Inputs()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := layoutOf(c.inputs)
			require.NoError(t, err)
			n := set.Len()
			v := &view{l: l, paired: set, ref: map[string][]float64{}}
			if l.reference {
				v.ref[core.ReferenceChosenLogps], v.ref[core.ReferenceRejectedLogps] = refC, refR
			}
			p, err := v.plan([]int{0, 1, 2})
			require.NoError(t, err)
			mb := p.model
			require.Len(t, mb.Rows, 2*n, "one row per chosen and rejected sequence")
			require.Len(t, mb.Spans, l.capacity(n, 0))
			out, err := fakeForward(l.capacity(n, 0))(mb)
			require.NoError(t, err)
			b := p.batch(out)
			require.NoError(t, b.Check(c.inputs), "the batch has every input the objective reads")

			for i := range n {
				c, r := chosen[i], rejected[i]
				from := max(1, c.PromptLen)
				assert.Equal(t, fakeLogp(c.Tokens, from, len(c.Tokens)), b.PolicyChosenLogps[i], "chosen %d", i)
				assert.Equal(t, int64(len(c.Tokens)-from), b.ChosenLengths[i], "chosen length %d", i)
				rf := max(1, r.PromptLen)
				assert.Equal(t, fakeLogp(r.Tokens, rf, len(r.Tokens)), b.PolicyRejectedLogps[i], "rejected %d", i)
				assert.Equal(t, int64(len(r.Tokens)-rf), b.RejectedLengths[i], "rejected length %d", i)
				if l.prompt {
					pt := max(1, c.PromptLen)
					assert.Equal(t, fakeLogp(c.Tokens, 1, pt), b.PolicyChosenPromptLogps[i], "prompt %d", i)
					assert.Equal(t, int64(pt-1), b.ChosenPromptLengths[i], "prompt length %d", i)
				}
			}
			if l.reference {
				assert.Equal(t, refC, b.ReferenceChosenLogps)
				assert.Equal(t, refR, b.ReferenceRejectedLogps)
			} else {
				assert.Nil(t, b.ReferenceChosenLogps)
			}
			if !l.prompt {
				assert.Nil(t, b.PolicyChosenPromptLogps)
			}
			checkGradLayout(t, l, b, out, func(r *core.Result) []float64 { return p.gradient(r, len(out)) })
		})
	}
}

func TestUnpairedAssembly(t *testing.T) {
	rows := []data.Row{rowP1, rowP3, rowP0, {Tokens: []int{1, 4, 7, 2}, PromptLen: 2}}
	labels := []bool{true, false, false, true}
	ref := []float64{-1, -2, -3, -4}
	refKL := []float64{-5, -6, -7, -8}
	cases := []struct {
		name   string
		inputs []string
	}{
		{"kto", configure(t, kto.Definition(), nil).Inputs()},
		{"nll", NLL{}.Inputs()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := layoutOf(c.inputs)
			require.NoError(t, err)
			n := len(rows)
			set := &data.UnpairedSet{Rows: rows, Labels: labels, Source: make([]data.Source, n)}
			v := &view{l: l, unpaired: set, ref: map[string][]float64{},
				refKL: func(seqs []model.Seq) ([]float64, error) {
					require.Len(t, seqs, n, "KL rows scored under the reference")
					return refKL, nil
				}}
			if l.reference {
				v.ref[core.ReferenceLogps] = ref
			}
			p, err := v.plan([]int{0, 1, 2, 3})
			require.NoError(t, err)
			mb := p.model
			require.Len(t, mb.Spans, l.capacity(n, 0))
			out, err := fakeForward(l.capacity(n, 0))(mb)
			require.NoError(t, err)
			b := p.batch(out)
			require.NoError(t, b.Check(c.inputs))
			for i, r := range rows {
				from := max(1, r.PromptLen)
				assert.Equal(t, fakeLogp(r.Tokens, from, len(r.Tokens)), b.PolicyLogps[i], "example %d", i)
				assert.Equal(t, int64(len(r.Tokens)-from), b.Lengths[i], "length %d", i)
			}
			assert.Equal(t, labels, b.Labels)
			if l.kl {
				for i := range n {
					// KL row i: the prompt of example i, the completion of example i−1.
					p, comp := rows[i], rows[(i+n-1)%n]
					toks := append(append([]int(nil), p.Tokens[:p.PromptLen]...), comp.Tokens[comp.PromptLen:]...)
					from := max(1, p.PromptLen)
					assert.Equal(t, fakeLogp(toks, from, len(toks)), b.PolicyKLLogps[i], "KL %d", i)
				}
				assert.Equal(t, refKL, b.ReferenceKLLogps)
				assert.Equal(t, ref, b.ReferenceLogps)
			} else {
				assert.Nil(t, b.PolicyKLLogps)
				assert.Nil(t, b.ReferenceLogps)
			}
			checkGradLayout(t, l, b, out, func(r *core.Result) []float64 { return p.gradient(r, len(out)) })
		})
	}
}

// checkGradLayout gives every policy input a distinct gradient and checks
// that the plan's gradient sends each to the model output the input was read from:
// the surrogate Σ_r g_r·out_r must equal Σ_inputs Σ_i G[name][i]·b[name][i],
// and output by output g must carry the input's value.
func checkGradLayout(t *testing.T, l layout, b *core.Batch, out []float64, gradient func(*core.Result) []float64) {
	t.Helper()
	res := &core.Result{Grads: map[string][]float64{}}
	var want float64
	for k, name := range l.inputs {
		if f, _ := core.LookupField(name); !f.Policy {
			continue
		}
		vals := *b.Floats(name)
		g := make([]float64, len(vals))
		for i := range g {
			g[i] = float64(100*(k+1) + i + 1)
			want += g[i] * vals[i]
		}
		res.Grads[name] = g
	}
	g := gradient(res)
	require.Len(t, g, len(out))
	var got float64
	for r := range out {
		got += g[r] * out[r]
	}
	assert.InDelta(t, want, got, 1e-9*max(1, abs(want)), "surrogate Σ g·out")
	// Output by output: the output whose value the batch holds gets that
	// input's gradient; fakeLogp values are distinct, so the match is unique.
	for name, gs := range res.Grads {
		for i, v := range *b.Floats(name) {
			found := false
			for r := range out {
				if out[r] == v && g[r] == gs[i] {
					found = true
				}
			}
			assert.True(t, found, "gradient of %s[%d] does not land on the output holding its value", name, i)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
