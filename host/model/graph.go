package model

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lnEps is the LayerNorm variance epsilon (PyTorch nn.LayerNorm default).
const lnEps = 1e-5

// maskValue is added to attention scores of future positions. Its softmax
// weight exp(maskValue − max) is exactly 0 in float32 and float64.
const maskValue = -1e9

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
	out    *G.Node   // [outputs] selected log-prob sums
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

// linear returns x·w + bias for x [N, in], w [in, out], bias [out].
func (b *b) linear(x, w, bias *G.Node) *G.Node {
	y := b.mul(x, w)
	if bias == nil {
		return y
	}
	return b.bAdd(y, bias, 0)
}

// layerNorm normalises each row of x [N, D] to zero mean and unit biased
// variance, then applies gain and bias [D]:
// (x−μ)·(σ²+ε)^(−1/2)·gain + bias.
func (b *b) layerNorm(x, gain, bias *G.Node) *G.Node {
	mu := b.reduce(G.Mean, x, 1, "layernorm mean")
	xc := b.bSub(x, mu, 1)
	v := b.reduce(G.Mean, b.hadamard(xc, xc), 1, "layernorm variance")
	rstd := b.do(func() (*G.Node, error) { return G.Pow(b.add(v, b.scalar(lnEps)), b.scalar(-0.5)) }, "layernorm pow")
	y := b.bMul(xc, rstd, 1)
	return b.bAdd(b.bMul(y, gain, 0), bias, 0)
}

// gelu is the tanh approximation 0.5·x·(1+tanh(√(2/π)(x+0.044715x³))),
// evaluated as x·σ(2√(2/π)(x+0.044715x³)), which is the same function.
func (b *b) gelu(x *G.Node) *G.Node {
	c := 2 * math.Sqrt(2/math.Pi)
	u := b.add(b.mul(x, b.scalar(c)), b.mul(b.unary(G.Cube, x, "cube"), b.scalar(c*0.044715)))
	return b.hadamard(x, b.unary(G.Sigmoid, u, "sigmoid"))
}

// softmaxLast is a stable softmax over the last axis of s [M, T, T]:
// exp(s − max) / Σ exp(s − max).
func (b *b) softmaxLast(s *G.Node) *G.Node {
	m := b.reduce(G.Max, s, 2, "softmax max")
	e := b.unary(G.Exp, b.bSub(s, m, 2), "softmax exp")
	z := b.reduce(G.Sum, e, 2, "softmax sum")
	return b.bDiv(e, z, 2)
}

// logSoftmaxRows is a stable log-softmax over the rows of x [N, V]:
// (x − max) − log Σ exp(x − max).
func (b *b) logSoftmaxRows(x *G.Node) *G.Node {
	m := b.reduce(G.Max, x, 1, "log-softmax max")
	z := b.bSub(x, m, 1)
	lse := b.unary(G.Log, b.reduce(G.Sum, b.unary(G.Exp, z, "log-softmax exp"), 1, "log-softmax sum"), "log-softmax log")
	return b.bSub(z, lse, 1)
}

// attention is causal multi-head self-attention of x [B·T, D] given the fused
// projection qkv [B·T, 3D] and the additive mask [T, T].
func (b *b) attention(qkv, mask *G.Node, bsz, t, d, heads int) *G.Node {
	hd := d / heads
	split := func(i int) *G.Node {
		s := b.do(func() (*G.Node, error) { return G.Slice(qkv, nil, G.S(i*d, (i+1)*d)) }, "qkv slice")
		s = b.transpose(b.reshape(s, bsz, t, heads, hd), 0, 2, 1, 3) // [B, H, T, hd]
		return b.reshape(s, bsz*heads, t, hd)
	}
	q := b.mul(split(0), b.scalar(1/math.Sqrt(float64(hd))))
	k, v := split(1), split(2)
	scores := b.do(func() (*G.Node, error) { return G.BatchedMatMul(q, k, false, true) }, "scores") // [BH, T, T]
	att := b.softmaxLast(b.bAdd(scores, mask, 0))
	y := b.do(func() (*G.Node, error) { return G.BatchedMatMul(att, v) }, "attend") // [BH, T, hd]
	y = b.transpose(b.reshape(y, bsz, heads, t, hd), 0, 2, 1, 3)                    // [B, T, H, hd]
	return b.reshape(y, bsz*t, d)
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
	d, vocab := cfg.Width, cfg.Vocab
	nt.ids = G.NewVector(g, tensor.Int, G.WithShape(n), G.WithName("ids"), G.WithValue(tensor.New(tensor.WithBacking(make([]int, n)))))
	posIdx := make([]int, n)
	for i := range posIdx {
		posIdx[i] = i % length
	}
	posIDs := G.NewVector(g, tensor.Int, G.WithShape(n), G.WithName("positions"), G.WithValue(tensor.New(tensor.WithBacking(posIdx))))
	nt.onehot = G.NewMatrix(g, dt, G.WithShape(n, vocab), G.WithName("onehot"), G.WithValue(tensor.New(tensor.Of(dt), tensor.WithShape(n, vocab))))
	nt.sel = G.NewMatrix(g, dt, G.WithShape(outputs, n), G.WithName("select"), G.WithValue(tensor.New(tensor.Of(dt), tensor.WithShape(outputs, n))))
	maskT := tensor.New(tensor.Of(dt), tensor.WithShape(length, length))
	for i := range length {
		for j := i + 1; j < length; j++ {
			if dt == tensor.Float32 {
				_ = maskT.SetAt(float32(maskValue), i, j)
			} else {
				_ = maskT.SetAt(float64(maskValue), i, j)
			}
		}
	}
	mask := G.NewMatrix(g, dt, G.WithShape(length, length), G.WithName("mask"), G.WithValue(maskT))

	x := bd.add(
		bd.do(func() (*G.Node, error) { return G.ByIndices(p["tok.weight"], nt.ids, 0) }, "token embedding"),
		bd.do(func() (*G.Node, error) { return G.ByIndices(p["pos.weight"], posIDs, 0) }, "position embedding"))
	for l := range cfg.Layers {
		pre := fmt.Sprintf("blocks.%d.", l)
		h := bd.layerNorm(x, p[pre+"ln1.gain"], p[pre+"ln1.bias"])
		qkv := bd.linear(h, p[pre+"attn.qkv.weight"], p[pre+"attn.qkv.bias"])
		a := bd.attention(qkv, mask, rows, length, d, cfg.Heads)
		x = bd.add(x, bd.linear(a, p[pre+"attn.proj.weight"], p[pre+"attn.proj.bias"]))
		h = bd.layerNorm(x, p[pre+"ln2.gain"], p[pre+"ln2.bias"])
		h = bd.gelu(bd.linear(h, p[pre+"mlp.fc.weight"], p[pre+"mlp.fc.bias"]))
		x = bd.add(x, bd.linear(h, p[pre+"mlp.proj.weight"], p[pre+"mlp.proj.bias"]))
	}
	x = bd.layerNorm(x, p["lnf.gain"], p["lnf.bias"])
	logp := bd.logSoftmaxRows(bd.linear(x, p["head.weight"], nil))               // [N, V]
	tok := bd.reduce(G.Sum, bd.hadamard(logp, nt.onehot), 1, "target log-probs") // [N]
	nt.out = bd.mul(nt.sel, tok)                                                 // [R]
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
