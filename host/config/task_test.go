package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTaskVariants(t *testing.T) {
	plain, err := Parse([]byte("[task]\n"+objDPO), "t.toml")
	require.NoError(t, err)
	assert.Equal(t, 1.0, plain.Task.DesirableKeep, "unpaired objectives see every chosen completion by default")
	variable, err := Parse([]byte("[task]\nvariable_length = true\ndemo_stop = 0.25\n"+objDPO), "t.toml")
	require.NoError(t, err)
	assert.Equal(t, 5, variable.Model.Vocab, "four letters and <eos>")
	assert.Equal(t, []string{"model.vocab changed from 4 to 5"}, ShapeChanges(plain, variable), "resuming across the switch is refused")
	knobs, err := Parse([]byte("[task]\nlabel_flip = 0.2\nlabel_length_bias = 1.5\npair_source = \"expert\"\npair_noise = 0.1\ndesirable_keep = 0.25\n"+objDPO), "t.toml")
	require.NoError(t, err)
	assert.Equal(t, 0.2, knobs.Task.LabelFlip)
	assert.Equal(t, 1.5, knobs.Task.LabelLengthBias)
	assert.Equal(t, "expert", knobs.Task.PairSource)
	assert.Equal(t, 0.1, knobs.Task.PairNoise)
	assert.Equal(t, 0.25, knobs.Task.DesirableKeep)
}

func TestTaskVariantErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"keep none", "desirable_keep = 0.0\n", "task.desirable_keep must be in (0, 1], got 0"},
		{"keep more", "desirable_keep = 1.5\n", "task.desirable_keep must be in (0, 1], got 1.5"},
		{"flip", "label_flip = 0.7\n", "task.label_flip must be in [0, 0.5], got 0.7"},
		{"source", "pair_source = \"policy\"\n", `task.pair_source must be one of "reference", "uniform", "expert", got "policy"`},
		{"stop", "variable_length = true\n", "task.demo_stop must be in (0, 1) with variable_length, got 0"},
		{"vocab", "variable_length = true\ndemo_stop = 0.2\n[model]\nvocab = 4\n",
			"model.vocab must be 0 or task.alphabet + 1 (5, with <eos>) for the task's exact distributions, got 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte("[task]\n"+c.doc+objDPO), "v.toml")
			require.Error(t, err)
			assert.Equal(t, "config: v.toml: "+c.want, err.Error())
		})
	}
}
