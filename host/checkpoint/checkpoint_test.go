package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/optim"
)

// sample returns a checkpoint with awkward float bits (−0, the smallest
// subnormal, the largest finite value) and random values drawn from seed.
func sample(step int64, seed uint64) *Checkpoint {
	rng := rand.New(rand.NewPCG(seed, 99))
	rnd := func(n int) []float32 {
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = float32(rng.NormFloat64())
		}
		return xs
	}
	emb := rnd(6 * 4)
	emb[0] = -math.MaxFloat32
	emb[1] = float32(math.Copysign(0, -1))
	emb[2] = math.Float32frombits(1) // smallest subnormal
	emb[3] = math.MaxFloat32
	m, v := make([]float64, 24), make([]float64, 24)
	for i := range m {
		m[i], v[i] = rng.NormFloat64(), rng.Float64()
	}
	return &Checkpoint{
		Step: step, Epoch: 2, Position: 17,
		Weights: []Tensor{
			{Name: "wte", Shape: []int{6, 4}, Data: emb},
			{Name: "ln_f.bias", Shape: []int{4}, Data: rnd(4)},
			{Name: "scale", Shape: []int{}, Data: rnd(1)},
			{Name: "empty", Shape: []int{0, 3}, Data: []float32{}},
		},
		Optim: &optim.State{Step: step, Params: []optim.ParamState{
			{Name: "ln_f.bias", M: m[:4], V: v[:4]},
			{Name: "wte", M: m, V: v},
		}},
		Config:    []byte("[run]\nname = \"x\" # <&>\n"),
		Tokenizer: json.RawMessage(`{"kind":"byte","add_eos":true}`),
		Extra:     map[string]string{"git": "abc"},
	}
}

func sortedWeights(ws []Tensor) []Tensor {
	out := slices.Clone(ws)
	slices.SortFunc(out, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func bits32(xs []float32) []uint32 {
	b := make([]uint32, len(xs))
	for i, x := range xs {
		b[i] = math.Float32bits(x)
	}
	return b
}

func TestRoundTripBitIdentical(t *testing.T) {
	root := t.TempDir()
	c := sample(1234, 1)
	dir, err := Save(root, c)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "step-00001234"), dir)

	got, err := Load(dir)
	require.NoError(t, err)
	want := sortedWeights(c.Weights)
	require.Len(t, got.Weights, len(want))
	for i := range want {
		assert.Equal(t, want[i].Name, got.Weights[i].Name)
		assert.Equal(t, want[i].Shape, got.Weights[i].Shape)
		assert.Equal(t, bits32(want[i].Data), bits32(got.Weights[i].Data), "tensor %s bit for bit", want[i].Name)
	}
	assert.Equal(t, c.Optim, got.Optim)
	assert.Equal(t, c.Step, got.Step)
	assert.Equal(t, c.Epoch, got.Epoch)
	assert.Equal(t, c.Position, got.Position)
	assert.Equal(t, c.Config, got.Config)
	assert.JSONEq(t, string(c.Tokenizer), string(got.Tokenizer))
	assert.Equal(t, c.Extra, got.Extra)
	assert.Equal(t, dir, got.Dir)

	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary directory left behind")
}

func TestSaveWithoutOptimizer(t *testing.T) {
	c := sample(3, 2)
	c.Optim, c.Tokenizer = nil, nil
	dir, err := Save(t.TempDir(), c)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, OptimizerFile))
	assert.ErrorIs(t, err, os.ErrNotExist)
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Nil(t, got.Optim)
	assert.Nil(t, got.Tokenizer)
}

func TestSaveReplacesSameStep(t *testing.T) {
	root := t.TempDir()
	_, err := Save(root, sample(5, 1))
	require.NoError(t, err)
	second := sample(5, 2)
	dir, err := Save(root, second)
	require.NoError(t, err)
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, bits32(sortedWeights(second.Weights)[0].Data), bits32(got.Weights[0].Data))
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestSaveRejects(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Checkpoint)
		want string
	}{
		{"negative step", func(c *Checkpoint) { c.Step = -1 }, "checkpoint: step must be >= 0, got -1"},
		{"duplicate weight", func(c *Checkpoint) { c.Weights[1].Name = "wte" }, `checkpoint: weights[1]: name "wte" is empty, reserved or used twice`},
		{"reserved name", func(c *Checkpoint) { c.Weights[0].Name = "__metadata__" }, `checkpoint: weights[0]: name "__metadata__" is empty, reserved or used twice`},
		{"shape", func(c *Checkpoint) { c.Weights[0].Shape = []int{5, 4} }, "checkpoint: weights wte: shape [5 4] holds 20 values, data has 24"},
		{"moments", func(c *Checkpoint) { c.Optim.Params[0].V = nil }, "checkpoint: optimizer state ln_f.bias: 4 first and 0 second moments"},
		{"tokenizer", func(c *Checkpoint) { c.Tokenizer = json.RawMessage("{") }, "checkpoint: tokenizer spec is not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "ckpt")
			c := sample(1, 1)
			tc.mod(c)
			_, err := Save(root, c)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			_, err = os.Stat(root)
			assert.ErrorIs(t, err, os.ErrNotExist, "nothing written")
		})
	}
}

// TestSafetensorsStandardLayout parses model.safetensors with nothing but
// encoding/binary and encoding/json, following the format's description,
// and with the nlpodyssey/safetensors reader.
func TestSafetensorsStandardLayout(t *testing.T) {
	c := sample(7, 3)
	dir, err := Save(t.TempDir(), c)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, ModelFile))
	require.NoError(t, err)

	n := binary.LittleEndian.Uint64(b[:8])
	require.Less(t, 8+n, uint64(len(b))+1)
	assert.Zero(t, (8+n)%8, "data section aligned to 8 bytes")
	var header map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b[8:8+n], &header))
	data := b[8+n:]

	var meta map[string]string
	require.NoError(t, json.Unmarshal(header["__metadata__"], &meta))
	assert.Equal(t, map[string]string{"format": "pt", "step": "7"}, meta)
	require.Len(t, header, len(c.Weights)+1)
	for _, w := range c.Weights {
		var e struct {
			DType       string   `json:"dtype"`
			Shape       []int    `json:"shape"`
			DataOffsets []uint64 `json:"data_offsets"`
		}
		require.NoError(t, json.Unmarshal(header[w.Name], &e), w.Name)
		assert.Equal(t, "F32", e.DType)
		assert.Equal(t, w.Shape, e.Shape)
		raw := data[e.DataOffsets[0]:e.DataOffsets[1]]
		require.Len(t, raw, 4*len(w.Data))
		for i := range w.Data {
			assert.Equal(t, math.Float32bits(w.Data[i]), binary.LittleEndian.Uint32(raw[4*i:]), "%s[%d]", w.Name, i)
		}
	}

	st, err := safetensors.Deserialize(b)
	require.NoError(t, err, "readable by nlpodyssey/safetensors")
	tv, ok := st.Tensor("wte")
	require.True(t, ok)
	assert.Equal(t, []uint64{6, 4}, tv.Shape())
	assert.Equal(t, safetensors.F32, tv.DType())
}

// corrupt applies f to the named file of dir.
func corrupt(t *testing.T, dir, name string, f func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, f(b), 0o644))
}

func TestLoadDetectsDamage(t *testing.T) {
	flip := func(at func(int) int) func([]byte) []byte {
		return func(b []byte) []byte { b[at(len(b))] ^= 0x10; return b }
	}
	cases := []struct {
		name   string
		file   string
		damage func([]byte) []byte
		remove bool
		want   string // substring after the file path
	}{
		{"model byte flipped", ModelFile, flip(func(n int) int { return n - 3 }), false, "corrupted: sha256 is"},
		{"model header byte flipped", ModelFile, flip(func(int) int { return 12 }), false, "corrupted: sha256 is"},
		{"optimizer byte flipped", OptimizerFile, flip(func(n int) int { return n / 2 }), false, "corrupted: sha256 is"},
		{"model truncated", ModelFile, func(b []byte) []byte { return b[:len(b)-5] }, false, "truncated:"},
		{"optimizer empty", OptimizerFile, func([]byte) []byte { return nil }, false, "truncated: 0 bytes"},
		{"model appended", ModelFile, func(b []byte) []byte { return append(b, 0) }, false, "too long:"},
		{"model missing", ModelFile, nil, true, "missing"},
		{"state missing", StateFile, nil, true, "missing"},
		{"state truncated", StateFile, func(b []byte) []byte { return b[:len(b)/2] }, false, "corrupted or truncated"},
		{"state digit changed", StateFile, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"epoch":2`, `"epoch":3`, 1))
		}, false, "corrupted: sha256 of state is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := Save(t.TempDir(), sample(9, 4))
			require.NoError(t, err)
			if tc.remove {
				require.NoError(t, os.Remove(filepath.Join(dir, tc.file)))
			} else {
				corrupt(t, dir, tc.file, tc.damage)
			}
			_, err = Load(dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "checkpoint: "+filepath.Join(dir, tc.file)+": "+tc.want)
			assert.Error(t, Verify(dir))
		})
	}
}

func TestLoadLatest(t *testing.T) {
	root := t.TempDir()
	for _, s := range []int64{1, 20, 300} {
		_, err := Save(root, sample(s, uint64(s)))
		require.NoError(t, err)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".tmp-step-00009999-123"), 0o755)) // interrupted save
	require.NoError(t, os.MkdirAll(filepath.Join(root, "step-12"), 0o755))                // not a checkpoint name

	latest, err := Latest(root)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "step-00000300"), latest)

	c, skipped, err := LoadLatest(root, false)
	require.NoError(t, err)
	assert.Equal(t, int64(300), c.Step)
	assert.Empty(t, skipped)

	corrupt(t, latest, ModelFile, func(b []byte) []byte { return b[:100] })
	_, _, err = LoadLatest(root, false)
	require.Error(t, err, "without fallback a corrupt latest is an error")
	assert.Contains(t, err.Error(), filepath.Join("step-00000300", ModelFile))

	c, skipped, err = LoadLatest(root, true)
	require.NoError(t, err)
	assert.Equal(t, int64(20), c.Step, "falls back to the previous good checkpoint")
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0].Error(), filepath.Join("step-00000300", ModelFile)+": truncated")
}

func TestLoadLatestNone(t *testing.T) {
	for _, root := range []string{t.TempDir(), filepath.Join(t.TempDir(), "absent")} {
		_, _, err := LoadLatest(root, true)
		assert.ErrorIs(t, err, ErrNotFound)
		_, err = Latest(root)
		assert.ErrorIs(t, err, ErrNotFound)
	}
	root := t.TempDir()
	dir, err := Save(root, sample(1, 1))
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, StateFile)))
	_, _, err = LoadLatest(root, true)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNotFound), "a corrupt checkpoint is not an absent one")
	assert.Contains(t, err.Error(), "no checkpoint verifies")
}

func TestPrune(t *testing.T) {
	setup := func(t *testing.T) string {
		root := t.TempDir()
		for s := int64(1); s <= 5; s++ {
			_, err := Save(root, sample(s, uint64(s)))
			require.NoError(t, err)
		}
		require.NoError(t, os.MkdirAll(filepath.Join(root, ".tmp-step-00000006-1"), 0o755))
		return root
	}
	names := func(t *testing.T, root string) []string {
		entries, err := os.ReadDir(root)
		require.NoError(t, err)
		var n []string
		for _, e := range entries {
			n = append(n, e.Name())
		}
		return n
	}

	t.Run("keep two", func(t *testing.T) {
		root := setup(t)
		removed, err := Prune(root, 2)
		require.NoError(t, err)
		assert.Len(t, removed, 4, "three old checkpoints and one temporary directory")
		assert.Equal(t, []string{"step-00000004", "step-00000005"}, names(t, root))
	})
	t.Run("newest good kept", func(t *testing.T) {
		root := setup(t)
		corrupt(t, filepath.Join(root, "step-00000005"), ModelFile, func(b []byte) []byte { return b[:9] })
		corrupt(t, filepath.Join(root, "step-00000004"), StateFile, func(b []byte) []byte { return b[:9] })
		_, err := Prune(root, 2)
		require.NoError(t, err)
		assert.Equal(t, []string{"step-00000003", "step-00000004", "step-00000005"}, names(t, root))
		c, _, err := LoadLatest(root, true)
		require.NoError(t, err)
		assert.Equal(t, int64(3), c.Step)
	})
	t.Run("keep all", func(t *testing.T) {
		root := setup(t)
		_, err := Prune(root, 0)
		require.NoError(t, err)
		assert.Len(t, names(t, root), 5)
	})
}

// TestNonFiniteRefused checks that a checkpoint holding a non-finite weight
// or moment is never written, and that one written anyway (checksums valid)
// is refused on load with the file, tensor and index named.
func TestNonFiniteRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Checkpoint)
		want string
	}{
		{"NaN weight", func(c *Checkpoint) { c.Weights[0].Data[5] = float32(math.NaN()) }, "weight wte[5] is not finite (NaN): not saved"},
		{"Inf weight", func(c *Checkpoint) { c.Weights[1].Data[2] = float32(math.Inf(1)) }, "weight ln_f.bias[2] is not finite (+Inf): not saved"},
		{"NaN moment", func(c *Checkpoint) { c.Optim.Params[1].V[10] = math.NaN() }, "optimizer state wte[10] is not finite"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			ck := sample(3, 1)
			c.edit(ck)
			_, err := Save(root, ck)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			entries, err := os.ReadDir(root)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written")
		})
	}
	t.Run("load", func(t *testing.T) {
		root := t.TempDir()
		ck := sample(3, 1)
		ck.Weights[0].Data[7] = float32(math.NaN())
		dir, err := ck.write(root)
		require.NoError(t, err)
		require.NoError(t, Verify(dir), "checksums are valid")
		_, err = Load(dir)
		require.Error(t, err)
		assert.Equal(t, "checkpoint: "+filepath.Join(dir, ModelFile)+": weight wte[7] is not finite (NaN)", err.Error())
	})
}
