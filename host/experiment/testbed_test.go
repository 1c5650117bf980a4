package experiment

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/testbed"
)

// variableDoc is a small variable-length task experiment: A = 3, L = 3,
// 1 + 3 + 9 + 27 = 40 completions, no reference SFT.
const variableDoc = `
[task]
alphabet = 3
prompt_len = 2
completion_len = 3
variable_length = true
demo_stop = 0.3
train_prompts = 6
eval_prompts = 3
samples_per_prompt = 8
sft_steps = 0
[model]
context = 5
width = 16
heads = 2
layers = 1
[[objective]]
name = "dpo"
`

func TestVariableLengthModelPolicy(t *testing.T) {
	exp, err := config.ParseBuiltin([]byte(variableDoc), "variable")
	require.NoError(t, err)
	tok, err := taskTokenizer(*exp.Task)
	require.NoError(t, err)
	assert.Equal(t, 4, tok.Size(), "three letters and <eos>")
	assert.Equal(t, 3, tok.EOS())
	assert.Equal(t, 4, exp.Model.Vocab)
	task, err := testbed.New(exp.Task.Config)
	require.NoError(t, err)
	require.Equal(t, tok.EOS(), task.EOS())

	// Any model's next-token distribution over the four ids is an exact
	// distribution over the 40 completions.
	for seed := range uint64(3) {
		w, err := model.New(modelConfig(exp.Model, tok.Size()), seed+1)
		require.NoError(t, err)
		tb := &Testbed{Task: task}
		p, err := tb.policy(w)
		require.NoError(t, err)
		for _, x := range append(task.TrainPrompts(), task.EvalPrompts()...) {
			lp, err := p.LogProbs(x)
			require.NoError(t, err)
			require.Len(t, lp, 40)
			mass := 0.0
			for _, v := range lp {
				mass += math.Exp(v)
			}
			assert.InDelta(t, 1, mass, 1e-12, "seed %d prompt %v", seed, x)
		}
		_, err = task.Evaluate(p, p)
		assert.NoError(t, err)
		p.scorer.Close()
	}
}

func TestVariableLengthRows(t *testing.T) {
	// A length-normalised objective divides by the scored tokens of a row:
	// |y| + 1 with the EOS, L without one.
	exp, err := config.ParseBuiltin([]byte(variableDoc), "variable")
	require.NoError(t, err)
	m, err := Prepare(context.Background(), exp, Options{})
	require.NoError(t, err)
	task := m.Testbed.Task
	ps := m.Train.Paired
	require.Equal(t, len(m.Testbed.Pairs), ps.Len())
	lengths := map[int]bool{}
	for i, p := range m.Testbed.Pairs {
		for _, c := range []struct {
			y   []int
			row []int
			pl  int
		}{{p.Chosen, ps.Chosen[i].Tokens, ps.Chosen[i].PromptLen}, {p.Rejected, ps.Rejected[i].Tokens, ps.Rejected[i].PromptLen}} {
			l := task.Len(c.y)
			scored := len(c.row) - c.pl
			if l < 3 {
				assert.Equal(t, l+1, scored)
				assert.Equal(t, 3, c.row[len(c.row)-1], "ends with <eos>")
			} else {
				assert.Equal(t, 3, scored)
			}
			lengths[scored] = true
		}
	}
	assert.Greater(t, len(lengths), 1, "rows of several lengths")
	assert.Nil(t, m.Train.Unpaired, "desirable_keep = 1 leaves the unpairing to the trainer")
}

func TestDesirableKeep(t *testing.T) {
	exp, err := config.ParseBuiltin([]byte(variableDoc+"\n"), "keep")
	require.NoError(t, err)
	exp.Task.DesirableKeep = 0.25
	m, err := Prepare(context.Background(), exp, Options{})
	require.NoError(t, err)
	n := len(m.Testbed.Pairs) // 6 prompts · 8 pairs = 48
	require.Equal(t, 48, n)
	require.Equal(t, n, m.Train.Paired.Len(), "paired objectives keep every pair")
	u := m.Train.Unpaired
	require.NotNil(t, u)
	desirable, undesirable := 0, 0
	for _, d := range u.Labels {
		if d {
			desirable++
		} else {
			undesirable++
		}
	}
	assert.Equal(t, 12, desirable, "0.25 · 48")
	assert.Equal(t, 48, undesirable)

	// Kept examples are examples of the full unpaired set, in its order.
	full, err := m.Train.Paired.Unpaired()
	require.NoError(t, err)
	j := 0
	for i, row := range u.Rows {
		for j < full.Len() && !(slices.Equal(full.Rows[j].Tokens, row.Tokens) && full.Labels[j] == u.Labels[i]) {
			j++
		}
		require.Less(t, j, full.Len(), "example %d is not in the full set after the previous one", i)
		j++
	}
}

func TestKeepDesirableDraws(t *testing.T) {
	// Different streams keep different subsets of the same size; a tiny
	// fraction still keeps one example.
	exp, err := config.ParseBuiltin([]byte(variableDoc), "variable")
	require.NoError(t, err)
	m, err := Prepare(context.Background(), exp, Options{})
	require.NoError(t, err)
	full, err := m.Train.Paired.Unpaired()
	require.NoError(t, err)
	a := keepDesirable(full, 0.5, rand.New(rand.NewPCG(1, 1)))
	b := keepDesirable(full, 0.5, rand.New(rand.NewPCG(2, 2)))
	require.Equal(t, a.Len(), b.Len())
	assert.Equal(t, 48+24, a.Len())
	assert.NotEqual(t, a.Source, b.Source)
	one := keepDesirable(full, 1e-6, rand.New(rand.NewPCG(1, 1)))
	assert.Equal(t, 48+1, one.Len())
}

func TestScenarioFiles(t *testing.T) {
	// The failure-mode scenarios of the benchmark are valid task
	// experiments whose objectives accept their parameters, each with its
	// name and a one-sentence claim.
	for _, name := range []string{"kto-imbalance", "length-bias", "noisy-labels", "off-policy"} {
		t.Run(name, func(t *testing.T) {
			exp, err := config.Load(filepath.Join("..", "suite", "scenarios", name+".toml"))
			require.NoError(t, err)
			require.NotNil(t, exp.Task, "scenarios run on the testbed")
			assert.Equal(t, name, exp.Run.Name)
			assert.NotEmpty(t, exp.Run.Description)
			assert.Equal(t, exp.Task.PromptLen+exp.Task.CompletionLen, exp.Model.Context, "the task's rows fill the context")
			require.NoError(t, CheckObjectives(context.Background(), exp, Options{}))
		})
	}
}
