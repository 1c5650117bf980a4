package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lnEps is the LayerNorm variance epsilon (PyTorch nn.LayerNorm default).
const lnEps = 1e-5

// net is a model graph for a fixed (rows, length, outputs, dtype).
type net struct {
	g      *G.ExprGraph
	dt     tensor.Dtype
	cfg    Config
	rows   int
	length int
	outs   int
	params []*G.Node // in Weights.Names order
	ids    *G.Node   // [rows·T] int, model input ids
	onehot *G.Node   // [rows·T, V] next-token one-hot
	sel    *G.Node   // [outputs, rows·T] span selection
	out    *G.Node   // [outputs] selected log-prob sums, rounded to dt
	lp     []float64 // [rows·T] float64 target log-probs of the last run
}

// b accumulates the first graph-building error so the model code reads as
// straight-line math.
type b struct {
	g   *G.ExprGraph
	dt  tensor.Dtype
	err error
}

func (b *b) do(f func() (*G.Node, error), what string) *G.Node {
	if b.err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		b.err = fmt.Errorf("model: build %s: %w", what, err)
	}
	return n
}

func (b *b) scalar(v float64) *G.Node {
	if b.dt == tensor.Float32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}

func (b *b) mul(x, y *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Mul(x, y) }, "mul")
}
func (b *b) add(x, y *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Add(x, y) }, "add")
}
func (b *b) hadamard(x, y *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.HadamardProd(x, y) }, "hadamard")
}
func (b *b) bAdd(x, y *G.Node, axes ...byte) *G.Node {
	return b.do(func() (*G.Node, error) { return G.BroadcastAdd(x, y, nil, axes) }, "broadcast add")
}
func (b *b) bSub(x, y *G.Node, axes ...byte) *G.Node {
	return b.do(func() (*G.Node, error) { return G.BroadcastSub(x, y, nil, axes) }, "broadcast sub")
}
func (b *b) bMul(x, y *G.Node, axes ...byte) *G.Node {
	return b.do(func() (*G.Node, error) { return G.BroadcastHadamardProd(x, y, nil, axes) }, "broadcast mul")
}
func (b *b) bDiv(x, y *G.Node, axes ...byte) *G.Node {
	return b.do(func() (*G.Node, error) { return G.BroadcastHadamardDiv(x, y, nil, axes) }, "broadcast div")
}
func (b *b) reshape(x *G.Node, s ...int) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Reshape(x, tensor.Shape(s)) }, "reshape")
}
func (b *b) transpose(x *G.Node, axes ...int) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Transpose(x, axes...) }, "transpose")
}
func (b *b) unary(f func(*G.Node) (*G.Node, error), x *G.Node, what string) *G.Node {
	return b.do(func() (*G.Node, error) { return f(x) }, what)
}
func (b *b) reduce(f func(*G.Node, ...int) (*G.Node, error), x *G.Node, axis int, what string) *G.Node {
	return b.do(func() (*G.Node, error) { return f(x, axis) }, what)
}

// linear returns x·w + bias for x [N, in], w [in, out], bias [out] or nil.
func (b *b) linear(x, w, bias *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return linearNode(x, w, bias) }, "linear")
}

// linearGelu returns gelu(linear(x, w, bias)) as one op.
func (b *b) linearGelu(x, w, bias *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return linearGeluNode(x, w, bias) }, "linear GELU")
}

// residual returns r + (x·w + bias) for r [N, out], x [N, in], w [in, out],
// bias [out].
func (b *b) residual(r, x, w, bias *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return residualNode(r, x, w, bias) }, "residual")
}

// layerNorm normalises each row of x [N, D] to zero mean and unit biased
// variance, then applies gain and bias [D]:
// (x−μ)·(σ²+ε)^(−1/2)·gain + bias.
func (b *b) layerNorm(x, gain, bias *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return layerNormNode(x, gain, bias) }, "layernorm")
}

// gelu is the tanh approximation 0.5·x·(1+tanh(√(2/π)(x+0.044715x³))),
// evaluated as x·σ(2√(2/π)(x+0.044715x³)), which is the same function.
func (b *b) gelu(x *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return geluNode(x) }, "gelu")
}

// attention is causal multi-head self-attention over rows of t positions,
// given the fused projection qkv [B·t, 3D].
func (b *b) attention(qkv *G.Node, t, heads int) *G.Node {
	return b.do(func() (*G.Node, error) { return attentionNode(qkv, t, heads) }, "attention")
}

// tokenLogp is Σ_v onehot_iv·log softmax(logits_i)_v for each row i; keep,
// if not nil, receives the float64 values at every run.
func (b *b) tokenLogp(logits, onehot *G.Node, keep *[]float64) *G.Node {
	return b.do(func() (*G.Node, error) { return tokenLogpNode(logits, onehot, keep) }, "target log-probs")
}

// buildNet builds the graph. Parameters get values from w (float32 backing
// shared with w for dt Float32, fresh float64 tensors for Float64).
func buildNet(w *Weights, rows, length, outputs int, dt tensor.Dtype) (*net, error) {
	cfg := w.cfg
	if rows < 1 {
		return nil, fmt.Errorf("model: rows must be ≥ 1, got %d", rows)
	}
	if outputs < 1 {
		return nil, fmt.Errorf("model: outputs must be ≥ 1, got %d", outputs)
	}
	if length < 1 || length > cfg.Context {
		return nil, fmt.Errorf("model: length must be in [1, %d] (context), got %d", cfg.Context, length)
	}
	g := G.NewGraph()
	bd := &b{g: g, dt: dt}
	nt := &net{g: g, dt: dt, cfg: cfg, rows: rows, length: length, outs: outputs}
	p := map[string]*G.Node{}
	for i, name := range w.names {
		v := paramTensor(w, i, dt)
		n := G.NewTensor(g, dt, len(w.shapes[i]), G.WithShape(w.shapes[i]...), G.WithName(name), G.WithValue(v))
		nt.params = append(nt.params, n)
		p[name] = n
	}
	n := rows * length
	vocab := cfg.Vocab
	nt.ids = G.NewVector(g, tensor.Int, G.WithShape(n), G.WithName("ids"), G.WithValue(tensor.New(tensor.WithBacking(make([]int, n)))))
	nt.onehot = G.NewMatrix(g, dt, G.WithShape(n, vocab), G.WithName("onehot"), G.WithValue(tensor.New(tensor.Of(dt), tensor.WithShape(n, vocab))))
	nt.sel = G.NewMatrix(g, dt, G.WithShape(outputs, n), G.WithName("select"), G.WithValue(tensor.New(tensor.Of(dt), tensor.WithShape(outputs, n))))
	ids := nt.ids.Value().Data().([]int)
	x := bd.do(func() (*G.Node, error) { return embeddingNode(p["tok.weight"], p["pos.weight"], ids, length) }, "embedding")
	for l := range cfg.Layers {
		pre := fmt.Sprintf("blocks.%d.", l)
		h := bd.layerNorm(x, p[pre+"ln1.gain"], p[pre+"ln1.bias"])
		qkv := bd.linear(h, p[pre+"attn.qkv.weight"], p[pre+"attn.qkv.bias"])
		a := bd.attention(qkv, length, cfg.Heads)
		x = bd.residual(x, a, p[pre+"attn.proj.weight"], p[pre+"attn.proj.bias"])
		h = bd.layerNorm(x, p[pre+"ln2.gain"], p[pre+"ln2.bias"])
		h = bd.linearGelu(h, p[pre+"mlp.fc.weight"], p[pre+"mlp.fc.bias"])
		x = bd.residual(x, h, p[pre+"mlp.proj.weight"], p[pre+"mlp.proj.bias"])
	}
	x = bd.layerNorm(x, p["lnf.gain"], p["lnf.bias"])
	tok := bd.tokenLogp(bd.linear(x, p["head.weight"], nil), nt.onehot, &nt.lp) // [N]
	nt.out = bd.mul(nt.sel, tok)                                                // [R]
	if bd.err != nil {
		return nil, bd.err
	}
	return nt, nil
}

// paramTensor returns the value of parameter i: a tensor sharing w's backing
// array for Float32, a converted copy for Float64.
func paramTensor(w *Weights, i int, dt tensor.Dtype) *tensor.Dense {
	if dt == tensor.Float32 {
		return tensor.New(tensor.WithShape(w.shapes[i]...), tensor.WithBacking(w.data[i]))
	}
	v := make([]float64, len(w.data[i]))
	for j, x := range w.data[i] {
		v[j] = float64(x)
	}
	return tensor.New(tensor.WithShape(w.shapes[i]...), tensor.WithBacking(v))
}

// syncParams copies w into the float64 parameter tensors. For Float32 the
// tensors share w's arrays and nothing is copied.
func (nt *net) syncParams(w *Weights) {
	if nt.dt == tensor.Float32 {
		return
	}
	for i, n := range nt.params {
		dst := n.Value().Data().([]float64)
		for j, x := range w.data[i] {
			dst[j] = float64(x)
		}
	}
}

// load writes a packed batch into the input nodes' tensors in place.
func load[F float32 | float64](nt *net, p *packed[F]) {
	copy(nt.ids.Value().Data().([]int), p.ids)
	copy(nt.onehot.Value().Data().([]F), p.onehot)
	copy(nt.sel.Value().Data().([]F), p.sel)
}
