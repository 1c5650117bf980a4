package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const base = `[run]
name = "a"
seed = 1

[train]
steps = 10
schedule = "cosine"
warmup_steps = 2
log_every = 5

[[objective]]
name = "dpo"

[objective.params]
beta = 0.1
`

func edit(old, new string) string { return strings.Replace(base, old, new, 1) }

// fakeCheckpoint makes dir/label/checkpoints/<step> look like a saved
// checkpoint to checkpoint.Latest.
func fakeCheckpoint(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "dpo", "checkpoints", "step-00000005"), 0o755))
}

func TestPrepareNewAndRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Prepare(dir, []byte(base), Mode{Resume: true})
	require.ErrorContains(t, err, "holds no run to resume")

	_, err = Prepare(dir, []byte(base), Mode{})
	require.NoError(t, err)
	saved, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	require.NoError(t, err)
	assert.Equal(t, base, string(saved))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dpo"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dpo", "metrics.jsonl"), []byte("{}\n"), 0o644))

	_, err = Prepare(dir, []byte(base), Mode{})
	assert.ErrorContains(t, err, "already holds this run; continue it with --resume")

	_, err = Prepare(dir, []byte(edit("beta = 0.1", "beta = 0.5")), Mode{})
	assert.ErrorContains(t, err, "objective[0].params.beta: 0.1 -> 0.5")
	assert.ErrorContains(t, err, "--overwrite")

	_, err = Prepare(dir, []byte(base), Mode{Resume: true})
	assert.ErrorContains(t, err, "holds no checkpoint")

	_, err = Prepare(dir, []byte(base), Mode{Resume: true, Overwrite: true})
	assert.ErrorContains(t, err, "exclude each other")
}

func TestPrepareOverwriteMovesAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Prepare(dir, []byte(base), Mode{})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644))
	changed := edit("seed = 1", "seed = 2")
	p, err := Prepare(dir, []byte(changed), Mode{Overwrite: true})
	require.NoError(t, err)
	require.NotEmpty(t, p.MovedTo)
	kept, err := os.ReadFile(filepath.Join(p.MovedTo, "keep.txt"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(kept))
	saved, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	require.NoError(t, err)
	assert.Equal(t, changed, string(saved))
	_, err = os.Stat(filepath.Join(dir, "keep.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestPrepareNotARunDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "my.toml"), []byte("x"), 0o644))
	_, err := Prepare(dir, []byte(base), Mode{})
	assert.ErrorContains(t, err, "is not a run directory (no config.toml)")
}

func TestResumeDiff(t *testing.T) {
	cases := []struct {
		name    string
		next    string
		wantErr []string // empty: the resume is accepted
	}{
		{"same", base, nil},
		{"logging", edit("log_every = 5", "log_every = 1"), nil},
		{"run name", edit(`name = "a"`, `name = "b"`), nil},
		{"beta", edit("beta = 0.1", "beta = 0.5"), []string{"objective[0].params.beta: 0.1 -> 0.5"}},
		{"seed and steps", edit("seed = 1", "seed = 7"), []string{"run.seed: 1 -> 7"}},
		{"new key", edit("[train]", "[train]\nbatch_size = 4"), []string{"train.batch_size: (absent) -> 4"}},
		{"steps under cosine", edit("steps = 10", "steps = 20"), []string{"train.steps: 10 -> 20 (the cosine schedule"}},
		{"fewer steps", edit("steps = 10", "steps = 5"), []string{"fewer than before"}},
		{"objective added", base + "\n[[objective]]\nname = \"ipo\"\n", []string{`objective[1].name: (absent) -> "ipo"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			_, err := Prepare(dir, []byte(base), Mode{})
			require.NoError(t, err)
			fakeCheckpoint(t, dir)
			p, err := Prepare(dir, []byte(tc.next), Mode{Resume: true})
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				saved, rerr := os.ReadFile(filepath.Join(dir, ConfigFile))
				require.NoError(t, rerr)
				assert.Equal(t, tc.next, string(saved), "a resume saves the new config")
				assert.Equal(t, tc.next != base, len(p.Changes) > 0)
				return
			}
			for _, w := range tc.wantErr {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestMoreStepsUnderConstantSchedule(t *testing.T) {
	doc := edit(`schedule = "cosine"`, `schedule = "constant"`)
	more := strings.Replace(doc, "steps = 10", "steps = 30", 1)
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Prepare(dir, []byte(doc), Mode{})
	require.NoError(t, err)
	fakeCheckpoint(t, dir)
	p, err := Prepare(dir, []byte(more), Mode{Resume: true})
	require.NoError(t, err)
	assert.Equal(t, []Change{{"train.steps", "10", "30"}}, p.Changes)
}

func TestKeyMatch(t *testing.T) {
	assert.True(t, keyMatch("a[*].b", "a[3].b"))
	assert.True(t, keyMatch("a[*].b", "a[12].b"))
	assert.False(t, keyMatch("a[*].b", "a[3].c"))
	assert.False(t, keyMatch("a[*].b", "a.b"))
	assert.True(t, keyMatch("train.steps", "train.steps"))
	assert.False(t, keyMatch("train.steps", "train.steps2"))
}

// TestStartedWithoutOutput reuses a directory whose run stopped before it
// wrote anything but its config, whatever that config was.
func TestStartedWithoutOutput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Prepare(dir, []byte(base), Mode{})
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "results"), 0o755))
	_, err = Prepare(dir, []byte(base), Mode{Resume: true})
	assert.ErrorContains(t, err, "holds no run to resume")
	other := edit("seed = 1", "seed = 2")
	_, err = Prepare(dir, []byte(other), Mode{})
	require.NoError(t, err)
	saved, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	require.NoError(t, err)
	assert.Equal(t, other, string(saved))
}

// TestResumeNormalizesSavedConfig checks that a saved configuration is
// rewritten by Mode.Normalize before the comparison: a key the schema gained
// since (here batch_size, at its default) is no change once the old file is
// normalised, and the normaliser's failure falls back to the raw file.
func TestResumeNormalizesSavedConfig(t *testing.T) {
	next := edit("[train]", "[train]\nbatch_size = 8")
	addDefault := func(saved []byte) ([]byte, error) {
		return []byte(strings.Replace(string(saved), "[train]", "[train]\nbatch_size = 8", 1)), nil
	}
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Prepare(dir, []byte(base), Mode{})
	require.NoError(t, err)
	fakeCheckpoint(t, dir)
	p, err := Prepare(dir, []byte(next), Mode{Resume: true, Normalize: addDefault})
	require.NoError(t, err)
	assert.Empty(t, p.Changes)

	dir = filepath.Join(t.TempDir(), "run")
	_, err = Prepare(dir, []byte(base), Mode{})
	require.NoError(t, err)
	fakeCheckpoint(t, dir)
	fail := func([]byte) ([]byte, error) { return nil, os.ErrInvalid }
	_, err = Prepare(dir, []byte(next), Mode{Resume: true, Normalize: fail})
	assert.ErrorContains(t, err, "train.batch_size: (absent) -> 8")
}
