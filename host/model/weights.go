package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// NumericsVersion identifies the forward arithmetic. It changes whenever a
// score of the same weights and tokens could change in any bit, so scores
// kept on disk (a reference cache) can be keyed by it.
const NumericsVersion = 3

// InitStd is the standard deviation of the normal initialisation of every
// embedding and linear weight (GPT-2, nanoGPT). Linear biases and LayerNorm
// biases start at 0, LayerNorm gains at 1.
const InitStd = 0.02

// Weights holds the parameters of a model as named float32 tensors in a
// fixed order (see [Weights.Names]). Data slices are live: a [Runner] or
// [Scorer] built on these weights sees in-place updates at its next call.
type Weights struct {
	cfg    Config
	names  []string
	shapes [][]int
	data   [][]float32
	index  map[string]int
}

// Parameter names. Blocks are numbered from 0: "blocks.0.ln1.gain" etc.
func layout(c Config) (names []string, shapes [][]int) {
	d, h := c.Width, c.Hidden()
	add := func(name string, shape ...int) {
		names = append(names, name)
		shapes = append(shapes, shape)
	}
	add("tok.weight", c.Vocab, d)
	add("pos.weight", c.Context, d)
	for l := range c.Layers {
		p := fmt.Sprintf("blocks.%d.", l)
		add(p+"ln1.gain", d)
		add(p+"ln1.bias", d)
		add(p+"attn.qkv.weight", d, 3*d) // columns: q | k | v, head h at h·HeadDim within each
		add(p+"attn.qkv.bias", 3*d)
		add(p+"attn.proj.weight", d, d)
		add(p+"attn.proj.bias", d)
		add(p+"ln2.gain", d)
		add(p+"ln2.bias", d)
		add(p+"mlp.fc.weight", d, h)
		add(p+"mlp.fc.bias", h)
		add(p+"mlp.proj.weight", h, d)
		add(p+"mlp.proj.bias", d)
	}
	add("lnf.gain", d)
	add("lnf.bias", d)
	add("head.weight", d, c.Vocab)
	return names, shapes
}

// Zeros returns weights of the given shape with every value 0.
func Zeros(cfg Config) (*Weights, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, shapes := layout(cfg)
	w := &Weights{cfg: cfg, names: names, shapes: shapes, index: make(map[string]int, len(names))}
	for i, n := range names {
		w.index[n] = i
		size := 1
		for _, s := range shapes[i] {
			size *= s
		}
		w.data = append(w.data, make([]float32, size))
	}
	return w, nil
}

// New returns freshly initialised weights: N(0, InitStd²) for embeddings and
// linear weights, 0 for biases, 1 for LayerNorm gains. Values are drawn
// from a PCG generator seeded with seed, in [Weights.Names] order, so the
// same seed gives bit-identical weights.
func New(cfg Config, seed uint64) (*Weights, error) {
	w, err := Zeros(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for i, n := range w.names {
		switch {
		case hasSuffix(n, ".gain"):
			for j := range w.data[i] {
				w.data[i][j] = 1
			}
		case hasSuffix(n, ".bias"):
		default:
			for j := range w.data[i] {
				w.data[i][j] = float32(rng.NormFloat64() * InitStd)
			}
		}
	}
	return w, nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// Config returns the shape of the model.
func (w *Weights) Config() Config { return w.cfg }

// Names returns the parameter names in their fixed order.
func (w *Weights) Names() []string { return slices.Clone(w.names) }

// Has reports whether name is a parameter.
func (w *Weights) Has(name string) bool { _, ok := w.index[name]; return ok }

// Shape returns the shape of the named parameter. It panics if name is
// unknown.
func (w *Weights) Shape(name string) []int { return slices.Clone(w.shapes[w.mustIndex(name)]) }

// Data returns the live row-major values of the named parameter. It panics
// if name is unknown.
func (w *Weights) Data(name string) []float32 { return w.data[w.mustIndex(name)] }

// NumParams returns the total number of scalar parameters.
func (w *Weights) NumParams() int {
	n := 0
	for _, d := range w.data {
		n += len(d)
	}
	return n
}

// Clone returns a deep copy.
func (w *Weights) Clone() *Weights {
	c := &Weights{cfg: w.cfg, names: w.names, shapes: w.shapes, index: w.index}
	for _, d := range w.data {
		c.data = append(c.data, slices.Clone(d))
	}
	return c
}

// CopyFrom overwrites w's values with src's in place. It returns an error if
// the configurations differ.
func (w *Weights) CopyFrom(src *Weights) error {
	if w.cfg != src.cfg {
		return fmt.Errorf("model: copy weights: config %+v differs from %+v", src.cfg, w.cfg)
	}
	for i := range w.data {
		copy(w.data[i], src.data[i])
	}
	return nil
}

func (w *Weights) mustIndex(name string) int {
	i, ok := w.index[name]
	if !ok {
		panic(fmt.Sprintf("model: unknown parameter %q", name))
	}
	return i
}

// NonFiniteError reports a parameter value that is NaN or ±Inf: the
// tensor's name, the row-major flat index within it and the value.
type NonFiniteError struct {
	Tensor string
	Index  int
	Value  float32
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("model: %s[%d] is not finite (got %v)", e.Tensor, e.Index, e.Value)
}

// CheckFinite returns a *NonFiniteError for the first NaN or ±Inf in
// [Weights.Names] order, then row-major order, or nil when every value is
// finite. It reads each value once and allocates nothing unless it finds
// one.
func (w *Weights) CheckFinite() error {
	for i, d := range w.data {
		if j := firstNonFinite32(d); j >= 0 {
			return &NonFiniteError{Tensor: w.names[i], Index: j, Value: d[j]}
		}
	}
	return nil
}

// firstNonFinite32 returns the index of the first NaN or ±Inf in x, or −1.
// A float32 is non-finite iff its exponent bits are all ones: its bits
// without the sign are ≥ 0x7f800000. (A block-wise branch-free integer max
// measured no faster: the loop is bound by memory.)
func firstNonFinite32(x []float32) int {
	for k, v := range x {
		if math.Float32bits(v)&0x7fffffff >= 0x7f800000 {
			return k
		}
	}
	return -1
}
