package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Per-op gradient check: every gorgonia op the model graph uses, in the
// shapes and broadcast patterns the model uses, differentiated by gorgonia
// and by central finite differences in float64.

const (
	// opFDStep is the central-difference step. Truncation error is
	// O(h²·f''') ≈ 1e-12 and cancellation error ≈ 1e-16/h ≈ 1e-10.
	opFDStep = 1e-6
	// opGradTol bounds |analytic − FD| / max(1, |FD|); 1e-6 leaves four
	// orders of margin over the FD error while a wrong gradient (the
	// InverseSqrt and off-axis ByIndices bugs) is off by O(1).
	opGradTol = 1e-6
)

// opInput is a differentiable float64 input of an op case.
type opInput struct {
	shape    []int
	positive bool // draw from (0.5, 1.5) instead of N(0, 1)
}

type opCase struct {
	name   string
	inputs []opInput
	ints   [][]int // integer inputs (indices), not differentiated
	build  func(bd *b, x []*G.Node, ints []*G.Node) *G.Node
}

// Model shapes used below: N = B·T rows, B=2, T=3, H=2, hd=2, D=4, V=5, R=3.
const (
	oB, oT, oH, oHD = 2, 3, 2, 2
	oD              = oH * oHD
	oN              = oB * oT
	oV, oR          = 5, 3
)

func opCases() []opCase {
	onehot := func(bd *b) *G.Node {
		w := make([]float64, oN*oV)
		for i := range oN {
			w[i*oV+(3*i+1)%oV] = 1
		}
		w[oV+2] = 2 // a weight of 2 (a token scored by two spans) and a zero row
		clear(w[4*oV : 5*oV])
		return G.NewMatrix(bd.g, tensor.Float64, G.WithShape(oN, oV), G.WithName("onehot"),
			G.WithValue(tensor.New(tensor.WithShape(oN, oV), tensor.WithBacking(w))))
	}
	return []opCase{
		// gorgonia ops.
		{"matmul [N,D]·[D,3D]", []opInput{{shape: []int{oN, oD}}, {shape: []int{oD, 3 * oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.mul(x[0], x[1]) }},
		{"residual add", []opInput{{shape: []int{oN, oD}}, {shape: []int{oN, oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.add(x[0], x[1]) }},
		{"sum axis 0", []opInput{{shape: []int{oN, oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.reduce(G.Sum, x[0], 0, "sum") }},
		{"selection mat-vec [R,N]·[N]", []opInput{{shape: []int{oR, oN}}, {shape: []int{oN}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.mul(x[0], x[1]) }},
		{"gather rows axis 0, repeated ids", []opInput{{shape: []int{oV, oD}}}, [][]int{{3, 1, 3, 0, 4, 3}},
			func(bd *b, x, ix []*G.Node) *G.Node {
				return bd.do(func() (*G.Node, error) { return G.ByIndices(x[0], ix[0], 0) }, "gather")
			}},
		// Fused ops as the model calls them.
		{"embedding, repeated ids", []opInput{{shape: []int{oV, oD}}, {shape: []int{oT, oD}}}, [][]int{{3, 1, 3, 0, 4, 3}},
			func(bd *b, x, ix []*G.Node) *G.Node {
				ids := ix[0].Value().Data().([]int)
				return bd.do(func() (*G.Node, error) { return embeddingNode(x[0], x[1], ids, oT) }, "embedding")
			}},
		{"linear without bias", []opInput{{shape: []int{oN, oD}}, {shape: []int{oD, oV}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.linear(x[0], x[1], nil) }},
		// 40 rows of width 16 into 32: n·k ≥ gemmMinWork, so the products
		// and their gradients run on the packed gemm kernels.
		{"residual linear", []opInput{{shape: []int{oN, 3 * oD}}, {shape: []int{oN, oD}}, {shape: []int{oD, 3 * oD}}, {shape: []int{3 * oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.residual(x[0], x[1], x[2], x[3]) }},
		{"linear packed", []opInput{{shape: []int{40, 16}}, {shape: []int{16, 32}}, {shape: []int{32}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.linear(x[0], x[1], x[2]) }},
		{"linear", []opInput{{shape: []int{oN, oD}}, {shape: []int{oD, 3 * oD}}, {shape: []int{3 * oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.linear(x[0], x[1], x[2]) }},
		{"layerNorm", []opInput{{shape: []int{oN, oD}}, {shape: []int{oD}}, {shape: []int{oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.layerNorm(x[0], x[1], x[2]) }},
		{"gelu", []opInput{{shape: []int{oN, 2 * oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.gelu(x[0]) }},
		{"linearGelu", []opInput{{shape: []int{oN, oD}}, {shape: []int{oD, 2 * oD}}, {shape: []int{2 * oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.linearGelu(x[0], x[1], x[2]) }},
		{"attention", []opInput{{shape: []int{oN, 3 * oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.attention(x[0], oT, oH) }},
		{"attention one head", []opInput{{shape: []int{oN, 3 * oD}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.attention(x[0], oT, 1) }},
		// 32 positions, head width 16: t·hd ≥ gemmMinWork, so the backward
		// products run on the packed gemm kernels.
		{"attention long rows", []opInput{{shape: []int{32, 3 * 32}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.attention(x[0], 32, 2) }},
		{"target log-probs", []opInput{{shape: []int{oN, oV}}}, nil,
			func(bd *b, x, _ []*G.Node) *G.Node { return bd.tokenLogp(x[0], onehot(bd), nil) }},
	}
}

// opGraph builds cost = Σ op(x)⊙weights with fresh input nodes bound to vals.
func opGraph(t *testing.T, c opCase, vals [][]float64, weights []float64) (*G.ExprGraph, []*G.Node, *G.Node) {
	g := G.NewGraph()
	bd := &b{g: g, dt: tensor.Float64}
	var xs []*G.Node
	for i, in := range c.inputs {
		xs = append(xs, G.NewTensor(g, tensor.Float64, len(in.shape), G.WithShape(in.shape...), G.WithName("x"+itoa(i)),
			G.WithValue(tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(vals[i])))))
	}
	var ix []*G.Node
	for i, v := range c.ints {
		ix = append(ix, G.NewVector(g, tensor.Int, G.WithShape(len(v)), G.WithName("i"+itoa(i)),
			G.WithValue(tensor.New(tensor.WithBacking(append([]int(nil), v...))))))
	}
	y := c.build(bd, xs, ix)
	require.NoError(t, bd.err)
	var wNode *G.Node
	if y.IsScalar() {
		wNode = bd.scalar(weights[0])
	} else {
		wNode = G.NewTensor(g, tensor.Float64, y.Dims(), G.WithShape(y.Shape()...), G.WithName("w"),
			G.WithValue(tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(weights[:y.Shape().TotalSize()]))))
	}
	cost := bd.do(func() (*G.Node, error) { return G.Sum(bd.hadamard(y, wNode)) }, "cost")
	require.NoError(t, bd.err)
	return g, xs, cost
}

func TestOpGradients(t *testing.T) {
	for ci, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			vals := make([][]float64, len(c.inputs))
			for i, in := range c.inputs {
				n := 1
				for _, s := range in.shape {
					n *= s
				}
				vals[i] = make([]float64, n)
				for j := range vals[i] {
					if in.positive {
						vals[i][j] = 0.5 + rng.Float64()
					} else {
						vals[i][j] = rng.NormFloat64()
					}
				}
			}
			weights := make([]float64, 4096)
			for j := range weights {
				weights[j] = rng.NormFloat64()
			}

			g, xs, cost := opGraph(t, c, vals, weights)
			grads, err := G.Grad(cost, xs...)
			require.NoError(t, err)
			m := G.NewTapeMachine(g, G.BindDualValues(xs...))
			defer m.Close()
			require.NoError(t, m.RunAll())

			fg, fxs, fcost := opGraph(t, c, vals, weights)
			fm := G.NewTapeMachine(fg)
			defer fm.Close()
			eval := func() float64 {
				fm.Reset()
				require.NoError(t, fm.RunAll())
				return fcost.Value().Data().(float64)
			}
			for i := range xs {
				an := grads[i].Value().Data().([]float64)
				data := fxs[i].Value().Data().([]float64)
				require.Len(t, an, len(data))
				for j := range data {
					orig := data[j]
					data[j] = orig + opFDStep
					fp := eval()
					data[j] = orig - opFDStep
					fmn := eval()
					data[j] = orig
					fd := (fp - fmn) / (2 * opFDStep)
					require.True(t, isFinite(an[j]) && isFinite(fd), "input %d [%d]: analytic %v fd %v", i, j, an[j], fd)
					assert.InDelta(t, fd, an[j], opGradTol*math.Max(1, math.Abs(fd)), "input %d [%d]", i, j)
				}
			}
		})
	}
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// TestAttnKeptProbabilities: the gradient from the probabilities kept by
// the forward pass is bit for bit the one that recomputes them, and the
// forward output does not depend on keeping them.
func TestAttnKeptProbabilities(t *testing.T) {
	const rows, tt, heads, d = 3, 37, 4, 32
	rng := rand.New(rand.NewPCG(21, 21))
	qkv, dy := make([]float32, rows*tt*3*d), make([]float32, rows*tt*d)
	for _, s := range [][]float32{qkv, dy} {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	var keep []float32
	kept, plain := make([]float32, rows*tt*d), make([]float32, rows*tt*d)
	attnFwd(kept, qkv, d, tt, heads, attnKeep(&keep, rows*heads*tt*tt))
	require.NotNil(t, keep)
	attnFwd(plain, qkv, d, tt, heads, nil)
	require.Equal(t, plain, kept)
	gKept, gPlain := make([]float32, len(qkv)), make([]float32, len(qkv))
	attnBwd(gKept, qkv, dy, d, tt, heads, keep)
	attnBwd(gPlain, qkv, dy, d, tt, heads, nil)
	for i := range gKept {
		require.Equal(t, math.Float32bits(gPlain[i]), math.Float32bits(gKept[i]), "dqkv[%d]", i)
	}
	var none []float32
	require.Nil(t, attnKeep(&none, attnKeepBytes/4+1))
}
