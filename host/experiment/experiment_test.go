package experiment

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/config"
)

func TestDefaultCompare(t *testing.T) {
	exp, err := LoadDefaultCompare()
	require.NoError(t, err)
	tc := DefaultTaskConfig()
	require.NoError(t, exp.DecodeTask(&tc))
	require.NoError(t, tc.Validate())
	var names []string
	for _, o := range exp.Objectives {
		names = append(names, o.Name)
	}
	assert.Equal(t, []string{"dpo", "ipo", "kto", "orpo", "simpo"}, names)
	assert.Equal(t, tc.PromptLen+tc.CompletionLen, exp.Model.Context, "the task's rows fill the context")
	// Users copy this file (--print-default): every key is explained.
	for i, line := range strings.Split(string(DefaultCompare), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		assert.Contains(t, line, "#", "defaults/compare.toml:%d: key without a comment", i+1)
	}
}

func TestTaskConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*TaskConfig)
		want string
	}{
		{"sft steps", func(c *TaskConfig) { c.SFTSteps = -1 }, "task.sft_steps must be >= 0, got -1"},
		{"sft batch", func(c *TaskConfig) { c.SFTBatch = 0 }, "task.sft_batch must be >= 1, got 0"},
		{"sft lr", func(c *TaskConfig) { c.SFTLR = 0 }, "task.sft_lr must be > 0, got 0"},
		{"demonstrations", func(c *TaskConfig) { c.Demonstrations = 0 }, "task.demonstrations must be >= 1, got 0"},
		{"frontier", func(c *TaskConfig) { c.FrontierBetas = []float64{1, -2} }, "task.frontier_betas[1] must be > 0, got -2"},
		{"not exact", func(c *TaskConfig) { c.Exact = false }, "task.exact = false is not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultTaskConfig()
			tc.edit(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.NoError(t, DefaultTaskConfig().Validate())
}

func TestResolvePath(t *testing.T) {
	exp, err := config.Parse([]byte("[data]\ntrain = \"d.jsonl\"\n[[objective]]\nname = \"dpo\"\n"), filepath.Join("some", "dir", "exp.toml"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("some", "dir", "d.jsonl"), resolvePath(exp, "d.jsonl"))
	assert.Equal(t, "/abs/d.jsonl", resolvePath(exp, "/abs/d.jsonl"))
	assert.Equal(t, "", resolvePath(exp, ""))
}
