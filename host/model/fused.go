package model

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"sync"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// fusedOp is a graph op whose value is computed by one Go function of its
// inputs' values; the model uses it for the blocks (LayerNorm, GELU,
// linear layers and their residual adds, attention, target log-probs)
// whose gorgonia compositions spend most
// of a step in broadcasting, transposes and per-op allocation. Its
// gradient is given symbolically by sym, in terms of other fused ops and
// gorgonia ops. The output array is owned by the op and reused by every
// run: a value must be copied to outlive the run.
type fusedOp struct {
	name   string
	params []int        // shape parameters, part of the op's identity
	inDims []int        // dims of each input
	dt     tensor.Dtype // dtype of every input and of the output
	shape  func(in []tensor.Shape) tensor.Shape
	diff   []bool // inputs the op is differentiable with respect to
	sym    func(in G.Nodes, out, grad *G.Node) (G.Nodes, error)
	f32    func(out []float32, in [][]float32)
	f64    func(out []float64, in [][]float64)
	buf32  []float32
	buf64  []float64
}

func (op *fusedOp) Arity() int { return len(op.inDims) }

func (op *fusedOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.inDims)+1)
	for _, d := range op.inDims {
		ts = append(ts, G.TensorType{Dims: d, Of: op.dt})
	}
	ts = append(ts, G.TensorType{Dims: op.outDims(), Of: op.dt})
	return hm.NewFnType(ts...)
}

func (op *fusedOp) outDims() int {
	in := make([]tensor.Shape, len(op.inDims))
	for i, d := range op.inDims {
		in[i] = make(tensor.Shape, d)
		for j := range in[i] {
			in[i][j] = 1
		}
	}
	return len(op.shape(in))
}

func (op *fusedOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("model: %s: input %d shape is %T", op.name, i, d)
		}
		shapes[i] = s
	}
	return op.shape(shapes), nil
}

func (op *fusedOp) Do(in ...G.Value) (G.Value, error) {
	var shapes []tensor.Shape
	for _, v := range in {
		shapes = append(shapes, v.Shape())
	}
	s := op.shape(shapes)
	n := s.TotalSize()
	switch op.dt {
	case tensor.Float32:
		args := make([][]float32, len(in))
		for i, v := range in {
			args[i] = v.Data().([]float32)
		}
		grow(&op.buf32, n)
		op.f32(op.buf32, args)
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(op.buf32)), nil
	case tensor.Float64:
		args := make([][]float64, len(in))
		for i, v := range in {
			args[i] = v.Data().([]float64)
		}
		grow(&op.buf64, n)
		op.f64(op.buf64, args)
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(op.buf64)), nil
	}
	return nil, fmt.Errorf("model: %s: unsupported dtype %v", op.name, op.dt)
}

func (op *fusedOp) ReturnsPtr() bool     { return false }
func (op *fusedOp) CallsExtern() bool    { return false }
func (op *fusedOp) OverwritesInput() int { return -1 }
func (op *fusedOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "%s%v%v%v", op.name, op.params, op.inDims, op.dt)
}
func (op *fusedOp) String() string { return op.name }
func (op *fusedOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *fusedOp) DiffWRT(n int) []bool {
	if op.diff == nil {
		return make([]bool, n)
	}
	return op.diff
}

func (op *fusedOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if op.sym == nil {
		return nil, fmt.Errorf("model: %s is not differentiable", op.name)
	}
	return op.sym(in, out, grad)
}

var errDtype = errors.New("model: fused ops need float32 or float64 inputs")

// apply adds op to the graph on the inputs, taking the dtype from the first.
func apply(op *fusedOp, in ...*G.Node) (*G.Node, error) {
	op.dt = in[0].Dtype()
	if op.dt != tensor.Float32 && op.dt != tensor.Float64 {
		return nil, errDtype
	}
	return G.ApplyOp(op, in...)
}

func sameShape(in []tensor.Shape) tensor.Shape { return in[0].Clone() }

// geluNode is x·σ(2√(2/π)(x+0.044715x³)) elementwise.
func geluNode(x *G.Node) (*G.Node, error) {
	return apply(&fusedOp{name: "gelu", inDims: []int{x.Dims()}, shape: sameShape, diff: []bool{true},
		f32: func(o []float32, in [][]float32) { geluFwd(o, in[0]) },
		f64: func(o []float64, in [][]float64) { geluFwd(o, in[0]) },
		sym: func(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
			dx, err := apply(&fusedOp{name: "geluGrad", inDims: []int{in[0].Dims(), out.Dims(), grad.Dims()}, shape: sameShape,
				f32: func(o []float32, in [][]float32) { geluBwd(o, in[0], in[1], in[2]) },
				f64: func(o []float64, in [][]float64) { geluBwd(o, in[0], in[1], in[2]) },
			}, in[0], out, grad)
			return G.Nodes{dx}, err
		}}, x)
}

const (
	geluC = 1.5957691216057308 // 2·√(2/π)
	geluA = 0.044715
)

// geluFwd writes gelu(x) into o. In float64 it is x/(1+exp(−u)) with
// math.Exp; in float32 it is the same formula in float32 arithmetic with
// exp32, within a few float32 ulps of the float64 value rounded.
func geluFwd[F float32 | float64](o, x []F) {
	cost := 30
	if _, ok := any(o).([]float32); ok {
		cost = 12
	}
	parallelFor(len(x), cost, func(lo, hi int) { geluRange(o[lo:hi], x[lo:hi]) })
}

// geluRange is geluFwd on the calling goroutine; o may be x.
func geluRange[F float32 | float64](o, x []F) {
	if o32, ok := any(o).([]float32); ok {
		x32 := any(x).([]float32)
		// Arguments, exponentials, quotients, a chunk at a time on the
		// stack.
		var e [256]float32
		for c := 0; c < len(x32); c += len(e) {
			xc := x32[c:min(c+len(e), len(x32))]
			ec := e[:len(xc)]
			v16 := 0 // done 16 at a time, the same operations
			if haveAVX512 {
				v16 = len(xc) &^ 15
			}
			if v16 > 0 {
				geluArg16(&ec[0], &xc[0], v16, geluA, -geluC)
			}
			for i := v16; i < len(xc); i++ {
				v := xc[i]
				ec[i] = -geluC * (v + geluA*v*v*v)
			}
			exp32s(ec, ec)
			oc := o32[c : c+len(xc)]
			if v16 > 0 {
				geluQuot16(&oc[0], &xc[0], &ec[0], v16)
			}
			for i := v16; i < len(xc); i++ {
				oc[i] = xc[i] / (1 + ec[i])
			}
		}
		return
	}
	for i := range x {
		v := float64(x[i])
		o[i] = F(v / (1 + math.Exp(-geluC*(v+geluA*v*v*v))))
	}
}

// Constants of exp32 (Cephes expf): ln 2 split in a part exact in float32
// and a correction, and the minimax polynomial of e^r on |r| ≤ ln2/2.
const (
	exp32Ln2Hi = 0.693359375
	exp32Ln2Lo = -2.12194440e-4
	exp32Max   = 88.72283905206835 // log(MaxFloat32)
	exp32Min   = -103.97207708     // below: e^x rounds to 0 in float32
)

// exp32 returns e^x in float32 arithmetic with a relative error of about
// 2 ulps (Cephes expf), +Inf above exp32Max, 0 below exp32Min and NaN for
// NaN. It is deterministic: plain float32 operations, no table, no FMA.
func exp32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > exp32Max:
		return float32(math.Inf(1))
	case x < exp32Min:
		return 0
	}
	// n = x·log₂e rounded to the nearest integer, without a branch:
	// adding 1.5·2²³ leaves no fraction bits (|x·log₂e| < 2²²).
	const round = 1.5 * (1 << 23)
	n := x*math.Log2E + round
	n -= round
	k := int32(n)
	r := x - n*exp32Ln2Hi - n*exp32Ln2Lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	// y·2ⁿ, in two steps so that n down to −150 (subnormal results)
	// and up to 128 stay representable.
	if k < -120 {
		y *= math.Float32frombits(uint32(127-120) << 23)
		k += 120
	}
	if k > 127 {
		y *= 2
		k--
	}
	return y * math.Float32frombits(uint32(k+127)<<23)
}

// exp32s writes exp32(x[i]) into dst[i], bit for bit, 16 at a time with
// AVX-512 when the CPU has it. dst and x may be the same slice; panics if
// dst is shorter than x.
func exp32s(dst, x []float32) {
	dst = dst[:len(x)]
	i := 0
	if haveAVX512 {
		i = len(x) &^ 15
		if i > 0 {
			exp32x16(&dst[0], &x[0], i)
		}
		if i < len(x) {
			// The tail through the kernel too, padded with zeros: each
			// lane's value is exp32 of its own argument.
			var t [16]float32
			n := copy(t[:], x[i:])
			exp32x16(&t[0], &t[0], 16)
			copy(dst[i:], t[:n])
		}
		return
	}
	for ; i < len(x); i++ {
		dst[i] = exp32(x[i])
	}
}

// geluBwd writes dy·gelu'(x) given y = gelu(x): with s = σ(u),
// u = c(x+ax³), gelu'(x) = s + x·s(1−s)·c(1+3ax²). s is recovered as y/x
// (relative error one rounding of y) except for |x| < 1e-3, where it is
// recomputed.
//
// With AVX-512, float32 runs 8 at a time through geluBwd8, then the
// elements with |x| < 1e-3 (or NaN), found 16 at a time by geluSmall16,
// are redone one by one: the same arithmetic, bit for bit.
func geluBwd[F float32 | float64](o, x, y, dy []F) {
	o32, ok := any(o).([]float32)
	if !ok || !haveAVX512 {
		parallelFor(len(x), 40, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				o[i] = F(geluGrad(float64(x[i]), float64(y[i]), float64(dy[i])))
			}
		})
		return
	}
	x32, y32, dy32 := any(x).([]float32), any(y).([]float32), any(dy).([]float32)
	parallelFor(len(x), 10, func(lo, hi int) {
		n := (hi - lo) &^ 7
		if n > 0 {
			_, _, _, _ = o32[lo+n-1], x32[lo+n-1], y32[lo+n-1], dy32[lo+n-1]
			geluBwd8(&o32[lo], &x32[lo], &y32[lo], &dy32[lo], n)
		}
		// The elements to redo: |x| < 1e-3 or NaN, blocks of 16 among
		// the first n16 skipped by geluSmall16 when they hold none, then
		// all those past n.
		n16 := n &^ 15
		for b := 0; b < n16; {
			k := geluSmall16(&x32[lo+b], n16-b, geluSmallT)
			if k == n16-b {
				break
			}
			b = (b + k) &^ 15
			for i := lo + b; i < lo+b+16; i++ {
				if v := float64(x32[i]); !(math.Abs(v) >= 1e-3) {
					o32[i] = float32(geluGrad(v, float64(y32[i]), float64(dy32[i])))
				}
			}
			b += 16
		}
		for i := lo + n16; i < hi; i++ {
			if v := float64(x32[i]); i >= lo+n || !(math.Abs(v) >= 1e-3) {
				o32[i] = float32(geluGrad(v, float64(y32[i]), float64(dy32[i])))
			}
		}
	})
}

// geluSmallT is the least float32 t with t ≥ 1e-3 (as a real number), so
// that |x| ≥ t in float32 exactly when |x| ≥ 1e-3 in float64.
var geluSmallT = func() float32 {
	t := float32(1e-3)
	if float64(t) < 1e-3 {
		t = math.Nextafter32(t, 1)
	}
	return t
}()

// geluGrad is dy·gelu'(v) of one element, as geluBwd states it.
func geluGrad(v, y, dy float64) float64 {
	var s float64
	if math.Abs(v) >= 1e-3 {
		s = y / v
	} else {
		s = 1 / (1 + math.Exp(-geluC*(v+geluA*v*v*v)))
	}
	return dy * (s + v*s*(1-s)*geluC*(1+3*geluA*v*v))
}

// linearNode is x·w + bias for x [N, k], w [k, n] and bias [n] (nil for
// none), computed by linear (gemm rounded to F, then the bias), as the
// scorer computes it. Its gradients are dx = dy·wᵀ, dw = xᵀ·dy and
// db = Σ_rows dy, each one gemm (or sum) into the op's own array, without
// transposed copies.
func linearNode(x, w, bias *G.Node) (*G.Node, error) {
	k, n := w.Shape()[0], w.Shape()[1]
	in := G.Nodes{x, w}
	dims := []int{2, 2}
	if bias != nil {
		in, dims = append(in, bias), append(dims, 1)
	}
	outShape := func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][0], in[1][1]} }
	return apply(&fusedOp{name: "linear", params: []int{k, n}, inDims: dims, shape: outShape, diff: []bool{true, true, true}[:len(dims)],
		f32: func(o []float32, in [][]float32) { linear(o, in[0], in[1], biasOf(in, 2), len(in[0])/k, k, n) },
		f64: func(o []float64, in [][]float64) { linear(o, in[0], in[1], biasOf(in, 2), len(in[0])/k, k, n) },
		sym: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			return linearGrads(in[0], in[1], len(in) == 3, grad, k, n)
		}}, in...)
}

// linearGeluNode is GELU(x·w + bias) for x [N, k], w [k, n] and bias
// [n]: linearNode then geluNode in one op, GELU applied to each range of
// rows as the product finishes it (linearGelu). The op keeps x·w + bias
// for its gradient, which is geluNode's, then linearNode's.
func linearGeluNode(x, w, bias *G.Node) (*G.Node, error) {
	k, n := w.Shape()[0], w.Shape()[1]
	var u32 []float32 // x·w + bias of the last run
	var u64 []float64
	outShape := func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][0], in[1][1]} }
	return apply(&fusedOp{name: "linearGelu", params: []int{k, n}, inDims: []int{2, 2, 1}, shape: outShape, diff: []bool{true, true, true},
		f32: func(o []float32, in [][]float32) {
			linearGelu(o, grow(&u32, len(o)), in[0], in[1], in[2], len(in[0])/k, k, n)
		},
		f64: func(o []float64, in [][]float64) {
			linearGelu(o, grow(&u64, len(o)), in[0], in[1], in[2], len(in[0])/k, k, n)
		},
		sym: func(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
			du, err := apply(&fusedOp{name: "linearGeluGrad", params: []int{k, n}, inDims: []int{2, 2}, shape: sameShape,
				f32: func(o []float32, in [][]float32) { geluBwd(o, u32, in[0], in[1]) },
				f64: func(o []float64, in [][]float64) { geluBwd(o, u64, in[0], in[1]) },
			}, out, grad)
			if err != nil {
				return nil, err
			}
			return linearGrads(in[0], in[1], true, du, k, n)
		}}, x, w, bias)
}

// linearGelu writes u = x·w + bias as linear does and y = GELU(u) as
// geluFwd does, each range of rows as soon as the product has finished
// it.
func linearGelu[F float32 | float64](y, u, x, w, bias []F, m, k, n int) {
	y, u = y[:m*n], u[:m*n]
	gemmRows(false, false, m, n, k, x[:m*k], k, w[:k*n], n, u, n, func(i0, i1 int) {
		ur := u[i0*n : i1*n]
		addBias(ur, ur, bias)
		geluRange(y[i0*n:i1*n], ur)
	})
}

// residualNode is r + (x·w + bias) for r [N, n], x [N, k], w [k, n] and
// bias [n]: the residual add of a linear layer in one op, computed by
// residual as the scorer computes it. The gradient with respect to r is
// dy itself; the others are linearNode's.
func residualNode(r, x, w, bias *G.Node) (*G.Node, error) {
	k, n := w.Shape()[0], w.Shape()[1]
	var y32 []float32 // x·w, owned by this op
	var y64 []float64
	return apply(&fusedOp{name: "residualLinear", params: []int{k, n}, inDims: []int{2, 2, 2, 1}, shape: sameShape, diff: []bool{true, true, true, true},
		f32: func(o []float32, in [][]float32) {
			residual(o, in[0], grow(&y32, len(o)), in[1], in[2], in[3], len(in[1])/k, k, n)
		},
		f64: func(o []float64, in [][]float64) {
			residual(o, in[0], grow(&y64, len(o)), in[1], in[2], in[3], len(in[1])/k, k, n)
		},
		sym: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := linearGrads(in[1], in[2], true, grad, k, n)
			return append(G.Nodes{grad}, g...), err
		}}, r, x, w, bias)
}

// linearGrads returns the gradients of x·w (+ bias) with respect to x, w
// and, if withBias, the bias, given dy = grad.
func linearGrads(x, w *G.Node, withBias bool, grad *G.Node, k, n int) (G.Nodes, error) {
	dx, err := apply(&fusedOp{name: "linearGradX", params: []int{k, n}, inDims: []int{2, 2},
		shape: func(s []tensor.Shape) tensor.Shape { return tensor.Shape{s[0][0], k} },
		f32: func(o []float32, in [][]float32) {
			gemm(false, true, len(in[0])/n, k, n, 1, in[0], n, in[1], n, 0, o, k)
		},
		f64: func(o []float64, in [][]float64) {
			gemm(false, true, len(in[0])/n, k, n, 1, in[0], n, in[1], n, 0, o, k)
		},
	}, grad, w)
	if err != nil {
		return nil, err
	}
	dw, err := apply(&fusedOp{name: "linearGradW", params: []int{k, n}, inDims: []int{2, 2},
		shape: func([]tensor.Shape) tensor.Shape { return tensor.Shape{k, n} },
		f32: func(o []float32, in [][]float32) {
			gemm(true, false, k, n, len(in[0])/k, 1, in[0], k, in[1], n, 0, o, n)
		},
		f64: func(o []float64, in [][]float64) {
			gemm(true, false, k, n, len(in[0])/k, 1, in[0], k, in[1], n, 0, o, n)
		},
	}, x, grad)
	if err != nil {
		return nil, err
	}
	if !withBias {
		return G.Nodes{dx, dw}, nil
	}
	db, err := sumRowsNode(grad)
	return G.Nodes{dx, dw, db}, err
}

// sumRowsNode is Σ_i x_i of the rows of x [N, D] (a bias gradient): per
// column, the first row plus the next ones in order, in the dtype, as
// gorgonia's Sum over axis 0 adds them.
func sumRowsNode(x *G.Node) (*G.Node, error) {
	return apply(&fusedOp{name: "sumRows", inDims: []int{2},
		shape: func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][1]} },
		f32:   func(o []float32, in [][]float32) { sumRows(o, in[0]) },
		f64:   func(o []float64, in [][]float64) { sumRows(o, in[0]) },
	}, x)
}

// sumRows writes the column sums of x [len(x)/len(o), len(o)] into o, each
// column's rows added one at a time in order. With AVX-512, float32 runs
// 128 columns to a pass (eight vector chains), then 64, 32, 16. It runs
// on one core: the sum reads each element once, and at the bench shape
// (2016 rows, 64 to 512 columns) splitting the columns over two cores
// measured slower, hot in cache or just written, than one core.
func sumRows[F float32 | float64](o, x []F) {
	d := len(o)
	rows := len(x) / d
	lo := 0
	if o32, ok := any(o).([]float32); ok && haveAVX512 && rows > 0 {
		x32 := any(x).([]float32)
		_ = x32[rows*d-1]
		for ; lo+128 <= d; lo += 128 {
			colSums128(&o32[lo], &x32[lo], rows, d)
		}
		for ; lo+64 <= d; lo += 64 {
			colSums64(&o32[lo], &x32[lo], rows, d)
		}
		for ; lo+32 <= d; lo += 32 {
			colSums32(&o32[lo], &x32[lo], rows, d)
		}
		for ; lo+16 <= d; lo += 16 {
			colSums16(&o32[lo], &x32[lo], rows, d)
		}
	}
	acc := o[lo:]
	copy(acc, x[lo:d])
	for i := 1; i < rows; i++ {
		for k, v := range x[i*d+lo : (i+1)*d] {
			acc[k] += v
		}
	}
}

// biasOf returns input i of a linear op, or nil if it has none.
func biasOf[F float32 | float64](in [][]F, i int) []F {
	if len(in) <= i {
		return nil
	}
	return in[i]
}

func addBias[F float32 | float64](o, y, bias []F) {
	n := len(bias)
	n16 := 0 // columns added 16 at a time, the same additions
	if haveAVX512 {
		if _, ok := any(o).([]float32); ok {
			n16 = n &^ 15
		}
	}
	for i := 0; i < len(y); i += n {
		or, yr := o[i:i+n], y[i:i+n]
		if n16 > 0 {
			addRow16(&any(or).([]float32)[0], &any(yr).([]float32)[0], &any(bias).([]float32)[0], n16)
		}
		for j := n16; j < n; j++ {
			or[j] = yr[j] + bias[j]
		}
	}
}

// embeddingNode is x_i = tok[ids_i] + pos[i mod length] [N, D] for token
// embeddings tok [V, D] and position embeddings pos [T, D], in the dtype:
// gorgonia's two ByIndices lookups and their Add in one op. ids is read
// at each run (the graph's ids input). The gradients are the rows of dy
// added into zeros by index, rows ascending, as gorgonia's ByIndices
// gradient adds them, with columns split over the cores.
func embeddingNode(tok, pos *G.Node, ids []int, length int) (*G.Node, error) {
	d := tok.Shape()[1]
	posOf := func(i int) int { return i % length }
	tokOf := func(i int) int { return ids[i] }
	return apply(&fusedOp{name: "embedding", params: []int{length}, inDims: []int{2, 2}, diff: []bool{true, true},
		shape: func(in []tensor.Shape) tensor.Shape { return tensor.Shape{len(ids), in[0][1]} },
		f32:   func(o []float32, in [][]float32) { embed(o, in[0], in[1], ids, length) },
		f64:   func(o []float64, in [][]float64) { embed(o, in[0], in[1], ids, length) },
		sym: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			dTok, err := embeddingGradNode("tokenEmbeddingGrad", grad, tok.Shape()[0], d, tokOf)
			if err != nil {
				return nil, err
			}
			dPos, err := embeddingGradNode("positionEmbeddingGrad", grad, pos.Shape()[0], d, posOf)
			return G.Nodes{dTok, dPos}, err
		}}, tok, pos)
}

func embed[F float32 | float64](o, tok, pos []F, ids []int, length int) {
	d := len(o) / len(ids)
	parallelFor(len(ids), 2*d, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			or, tr, pr := o[i*d:(i+1)*d], tok[ids[i]*d:(ids[i]+1)*d], pos[(i%length)*d:(i%length+1)*d]
			for j := range or {
				or[j] = tr[j] + pr[j]
			}
		}
	})
}

// embeddingGradNode is the gradient [rows, d] of an embedding table whose
// row row(i) was looked up at position i, from dy [N, d]: zeros, then
// dy_i added to row row(i) for i ascending.
func embeddingGradNode(name string, dy *G.Node, rows, d int, row func(i int) int) (*G.Node, error) {
	return apply(&fusedOp{name: name, params: []int{rows, d}, inDims: []int{2},
		shape: func([]tensor.Shape) tensor.Shape { return tensor.Shape{rows, d} },
		f32:   func(o []float32, in [][]float32) { scatterRows(o, in[0], d, row) },
		f64:   func(o []float64, in [][]float64) { scatterRows(o, in[0], d, row) },
	}, dy)
}

func scatterRows[F float32 | float64](o, dy []F, d int, row func(i int) int) {
	n := len(dy) / d
	parallelColumns(d, 2*n, func(lo, hi int) {
		for r := 0; r < len(o); r += d {
			clear(o[r+lo : r+hi])
		}
		for i := range n {
			or, dr := o[row(i)*d+lo:row(i)*d+hi], dy[i*d+lo:i*d+hi]
			for j, v := range dr {
				or[j] += v
			}
		}
	})
}

// layerNormNode is LayerNorm of the rows of x [N, D] with gain and bias
// [D]: (x−μ)·(σ²+ε)^(−1/2)·gain + bias, statistics in float64. The
// forward op keeps each row's statistics for the gradient ops of the same
// run, which read the same x.
func layerNormNode(x, gain, bias *G.Node) (*G.Node, error) {
	var stats []float64
	keep := func(n int) []float64 { return grow(&stats, 2*n) }
	return apply(&fusedOp{name: "layerNorm", inDims: []int{2, 1, 1}, shape: sameShape, diff: []bool{true, true, true},
		f32: func(o []float32, in [][]float32) { lnFwd(o, in[0], in[1], in[2], keep(len(o)/len(in[1]))) },
		f64: func(o []float64, in [][]float64) { lnFwd(o, in[0], in[1], in[2], keep(len(o)/len(in[1]))) },
		sym: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			dx, err := apply(&fusedOp{name: "layerNormGradX", inDims: []int{2, 1, 2}, shape: sameShape,
				f32: func(o []float32, in [][]float32) { lnBwdX(o, in[0], in[1], in[2], stats) },
				f64: func(o []float64, in [][]float64) { lnBwdX(o, in[0], in[1], in[2], stats) },
			}, in[0], in[1], grad)
			if err != nil {
				return nil, err
			}
			dg, err := apply(&fusedOp{name: "layerNormGradGain", inDims: []int{2, 2},
				shape: func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][1]} },
				f32:   func(o []float32, in [][]float32) { lnBwdGain(o, in[0], in[1], stats) },
				f64:   func(o []float64, in [][]float64) { lnBwdGain(o, in[0], in[1], stats) },
			}, in[0], grad)
			if err != nil {
				return nil, err
			}
			db, err := sumRowsNode(grad)
			return G.Nodes{dx, dg, db}, err
		}}, x, gain, bias)
}

// rowStats returns the mean and (σ²+ε)^(−1/2) of a row.
func rowStats[F float32 | float64](x []F) (mu, rstd float64) {
	for _, v := range x {
		mu += float64(v)
	}
	mu /= float64(len(x))
	va := 0.0
	for _, v := range x {
		dv := float64(v) - mu
		va += dv * dv
	}
	va /= float64(len(x))
	return mu, 1 / math.Sqrt(va+lnEps)
}

// lnNormRow writes F((x−μ)·r)·gain + bias for one row, 8 at a time by
// lnNormRow8 with AVX-512.
func lnNormRow[F float32 | float64](yr, xr, gain, bias []F, mu, r float64) {
	k0 := 0
	if y32, ok := any(yr).([]float32); ok && haveAVX512 && len(yr) >= 8 {
		k0 = len(yr) &^ 7
		lnNormRow8(&y32[0], &any(xr).([]float32)[0], &any(gain).([]float32)[0], &any(bias).([]float32)[0], k0, mu, r)
	}
	for k := k0; k < len(xr); k++ {
		yr[k] = F((float64(xr[k])-mu)*r)*gain[k] + bias[k]
	}
}

// lnScratch holds the LayerNorm kernels' float64 scratch buffers.
var lnScratch sync.Pool

// getLNScratch returns a scratch buffer of n float64 from lnScratch, to
// give back with lnScratch.Put. Its contents are undefined.
func getLNScratch(n int) *[]float64 {
	if p, ok := lnScratch.Get().(*[]float64); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float64, n)
	return &s
}

func lnFwd[F float32 | float64](o, x, gain, bias []F, stats []float64) {
	layerNormRowsStats(o, x, gain, bias, len(x)/len(gain), len(gain), stats)
}

// lnBwdX writes dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) per row, with
// x̂ = (x−μ)·r and ĝ = dy·gain; stats holds each row's rowStats of x.
// With AVX-512, float32 rows go eight at a time through lnBwdX8: the sums
// one row per lane, each row's order kept, then the outputs 8 columns at a
// time, the same operations as the scalar loops.
func lnBwdX[F float32 | float64](o, x, gain, dy []F, stats []float64) {
	d := len(gain)
	var gain64 []float64 // gain in float64, padded with zeros to a multiple of 8
	var o32, x32, dy32 []float32
	if _, ok := any(x).([]float32); ok && haveAVX512 && d > 0 {
		o32, x32, dy32 = any(o).([]float32), any(x).([]float32), any(dy).([]float32)
		buf := getLNScratch((d + 7) &^ 7)
		defer lnScratch.Put(buf)
		gain64 = *buf
		for k := range gain64 {
			gain64[k] = 0
			if k < d {
				gain64[k] = float64(gain[k])
			}
		}
	}
	parallelFor(len(x)/d, 8*d, func(lo, hi int) {
		var musr, means [16]float64 // μ then r of eight rows; their mean ĝ then mean ĝ·x̂
		for i := lo; i < hi; {
			if gain64 != nil && hi-lo >= 8 {
				// Eight rows; the last group ends at hi, and rows before i
				// that it computes again are not written again.
				a := min(i, hi-8)
				for j := range 8 {
					musr[j], musr[8+j] = stats[2*(a+j)], stats[2*(a+j)+1]
				}
				lnBwdX8(&means[0], &o32[a*d], &x32[a*d], &dy32[a*d], &gain64[0], &musr[0], d, i-a)
				if k0 := d &^ 7; k0 < d { // the last d%8 columns
					for j := i - a; j < 8; j++ {
						row := (a + j) * d
						lnBwdXRow(o[row+k0:row+d], x[row+k0:row+d], gain[k0:], dy[row+k0:row+d], nil,
							musr[j], musr[8+j], means[j], means[8+j])
					}
				}
				i = a + 8
				continue
			}
			row := i * d
			mu, r := stats[2*i], stats[2*i+1]
			mg, mgx := lnBwdXSums(x[row:row+d], gain, dy[row:row+d], mu, r)
			lnBwdXRow(o[row:row+d], x[row:row+d], gain, dy[row:row+d], gain64, mu, r, mg/float64(d), mgx/float64(d))
			i++
		}
	})
}

// lnBwdXSums returns Σĝ and Σĝ·x̂ of one row of lnBwdX, columns
// ascending.
func lnBwdXSums[F float32 | float64](xr, gain, gr []F, mu, r float64) (mg, mgx float64) {
	for k, v := range xr {
		g := float64(gr[k]) * float64(gain[k])
		mg += g
		mgx += g * (float64(v) - mu) * r
	}
	return mg, mgx
}

// lnBwdXRow writes one row of lnBwdX from the row's means mg of ĝ and mgx
// of ĝ·x̂; with gain64 (the gain in float64, float32 rows only), 8 at a
// time by lnBwdXRow8g.
func lnBwdXRow[F float32 | float64](or, xr, gain, gr []F, gain64 []float64, mu, r, mg, mgx float64) {
	d := len(or)
	k0 := 0 // done 8 at a time, the same operations
	if gain64 != nil && d >= 8 {
		k0 = d &^ 7
		lnBwdXRow8g(&any(or).([]float32)[0], &any(xr).([]float32)[0], &any(gr).([]float32)[0], &gain64[0], k0, mu, r, mg, mgx)
	}
	for k := k0; k < d; k++ {
		g := float64(gr[k]) * float64(gain[k])
		or[k] = F(r * (g - mg - (float64(xr[k])-mu)*r*mgx))
	}
}

// lnBwdGain writes Σ_rows dy·x̂, rows ascending, in float64; stats holds
// each row's rowStats of x. With AVX-512, float32 rows go through
// lnGainRows on one core, which reads x and dy in order, 8 columns at a
// time, and the last d%8 columns one at a time; otherwise columns are
// split over the cores.
func lnBwdGain[F float32 | float64](o, x, dy []F, stats []float64) {
	d := len(o)
	rows := len(x) / d
	x32, ok := any(x).([]float32)
	if !ok || !haveAVX512 || rows == 0 {
		parallelColumns(d, 3*rows, func(lo, hi int) {
			acc := make([]float64, hi-lo)
			for i := range rows {
				xr, gr := x[i*d+lo:i*d+hi], dy[i*d+lo:i*d+hi]
				mu, r := stats[2*i], stats[2*i+1]
				for k := 0; k < len(acc); k++ {
					acc[k] += float64(gr[k]) * (float64(xr[k]) - mu) * r
				}
			}
			for k, v := range acc {
				o[lo+k] = F(v)
			}
		})
		return
	}
	dy32 := any(dy).([]float32)
	// One core: split over two cores by columns, this measured slower at
	// 2016×128 and 4080×512.
	acc := make([]float64, d)
	n8 := d &^ 7
	if n8 > 0 {
		lnGainRows(&acc[0], &x32[0], &dy32[0], &stats[0], rows, d, n8)
	}
	for i := range rows {
		xr, gr := x[i*d:(i+1)*d], dy[i*d:(i+1)*d]
		mu, r := stats[2*i], stats[2*i+1]
		for k := n8; k < d; k++ {
			acc[k] += float64(gr[k]) * (float64(xr[k]) - mu) * r
		}
	}
	for k, v := range acc {
		o[k] = F(v)
	}
}

// attentionNode is causal multi-head self-attention over rows of t
// positions: qkv [B·t, 3D] (q | k | v, head h at columns h·hd within each)
// gives y [B·t, D] with y_s = Σ_{u≤s} softmax_u(q_s·k_u/√hd)·v_u per head.
// Each row block and head is computed by attnBlock, so position s's value
// does not depend on t, on the other rows or on the positions after s.
// The forward op keeps the probabilities for the gradient op of the same
// run when they take at most attnKeepBytes; the gradient op otherwise
// computes them again, the same way.
func attentionNode(qkv *G.Node, t, heads int) (*G.Node, error) {
	d := qkv.Shape()[1] / 3
	var keep32 []float32
	var keep64 []float64
	return apply(&fusedOp{name: "attention", params: []int{t, heads}, inDims: []int{2}, diff: []bool{true},
		shape: func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][0], in[0][1] / 3} },
		f32:   func(o []float32, in [][]float32) { attnFwd(o, in[0], d, t, heads, attnKeep(&keep32, len(o)/d*heads*t)) },
		f64:   func(o []float64, in [][]float64) { attnFwd(o, in[0], d, t, heads, attnKeep(&keep64, len(o)/d*heads*t)) },
		sym: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			dq, err := apply(&fusedOp{name: "attentionGrad", params: []int{t, heads}, inDims: []int{2, 2}, shape: func(in []tensor.Shape) tensor.Shape { return in[0].Clone() },
				f32: func(o []float32, in [][]float32) { attnBwd(o, in[0], in[1], d, t, heads, keep32) },
				f64: func(o []float64, in [][]float64) { attnBwd(o, in[0], in[1], d, t, heads, keep64) },
			}, in[0], grad)
			return G.Nodes{dq}, err
		}}, qkv)
}

// attnKeepBytes is the most memory one attention op keeps its
// probabilities in (B·heads·t² values) for its gradient.
const attnKeepBytes = 64 << 20

// attnKeep returns *buf grown to n values, or nil if they would take more
// than attnKeepBytes.
func attnKeep[F float32 | float64](buf *[]F, n int) []F {
	if n*int(unsafe.Sizeof(F(0))) > attnKeepBytes {
		*buf = nil
		return nil
	}
	return grow(buf, n)
}

// attnFwd runs attnBlock for every row block and head: positions 0..t−1
// of a row are its queries and keys. If keep is not nil, the
// probabilities of row block b and head h are written to
// keep[(b·heads+h)·t²:] for attnBwd.
func attnFwd[F float32 | float64](o, qkv []F, d, t, heads int, keep []F) {
	hd := d / heads
	bsz := len(o) / (t * d)
	parallelFor(bsz*heads, t*t*hd*4, func(lo, hi int) {
		ws := getAttnWork[F]()
		defer putAttnWork(ws)
		for job := lo; job < hi; job++ {
			b, h := job/heads, job%heads
			base := b*t*3*d + h*hd
			var p []F
			if keep != nil {
				p = keep[job*t*t : (job+1)*t*t]
			}
			attnBlock(o[b*t*d+h*hd:], d, qkv[base:], 3*d, qkv[base+d:], qkv[base+2*d:], 3*d, t, t, 0, hd, ws, p)
		}
	})
}

// attnBwd writes ∂(Σ dy⊙y)/∂qkv [B·t, 3D], with the probabilities kept by
// attnFwd of the same qkv, or recomputed as attnFwd computes them if kept
// is nil:
// dP = dY·Vᵀ, dS = P⊙(dP − rowsum(P⊙dP)), dQ = dS·K/√hd, dK = dSᵀ·Q/√hd,
// dV = Pᵀ·dY, each product by blocks of attnRows rows over the terms
// below or above the diagonal only (the others are zero).
func attnBwd[F float32 | float64](o, qkv, dy []F, d, t, heads int, kept []F) {
	hd := d / heads
	bsz := len(dy) / (t * d)
	scale := F(1 / math.Sqrt(float64(hd)))
	parallelFor(bsz*heads, t*t*hd*10, func(lo, hi int) {
		ws := getAttnWork[F]()
		defer putAttnWork(ws)
		ds := grow(&ws.ds, t*t)
		for job := lo; job < hi; job++ {
			b, h := job/heads, job%heads
			base, dyb := b*t*3*d, dy[b*t*d+h*hd:]
			q, k, v := qkv[base+h*hd:], qkv[base+d+h*hd:], qkv[base+2*d+h*hd:]
			var p []F
			if kept != nil {
				p = kept[job*t*t : (job+1)*t*t]
			} else {
				p = attnProbsBlock(q, 3*d, k, 3*d, t, t, 0, hd, ws, nil)
			}
			// Causal blocks: rows below j1 read columns below j1 only;
			// Vᵀ packed once for all of them.
			vt := prePackB(&ws.vt, v, 3*d, true, t, hd)
			for j0 := 0; j0 < t; j0 += attnRows {
				j1 := min(j0+attnRows, t)
				gemmSerialPre(false, true, j1-j0, j1, hd, 1, dyb[j0*d:], d, v, 3*d, 0, ds[j0*t:], t, vt)
			}
			var dots [4]float64
			for s := range t {
				if s%4 == 0 {
					rowDots(dots[:min(4, t-s)], p[s*t:], ds[s*t:], t, s)
				}
				pr, dr := p[s*t:s*t+s+1], ds[s*t:(s+1)*t]
				dot := dots[s%4]
				// dS/√hd, rounded as a product's alpha rounds its A, so
				// that dQ and dK read it in place.
				for u, pv := range pr {
					dr[u] = scale * F(float64(pv)*(float64(dr[u])-dot))
				}
				clear(dr[s+1:])
			}
			// dS and P are zero above the diagonal: row s of dQ sums over
			// u ≤ s, rows u of dK and dV over s ≥ u.
			for j0 := 0; j0 < t; j0 += attnRows {
				j1 := min(j0+attnRows, t)
				gemmSerial(false, false, j1-j0, hd, j1, 1, ds[j0*t:], t, k, 3*d, 0, o[base+j0*3*d+h*hd:], 3*d)
				gemmSerial(true, false, j1-j0, hd, t-j0, 1, ds[j0*t+j0:], t, q[j0*3*d:], 3*d, 0, o[base+j0*3*d+d+h*hd:], 3*d)
				gemmSerial(true, false, j1-j0, hd, t-j0, 1, p[j0*t+j0:], t, dyb[j0*d:], d, 0, o[base+j0*3*d+2*d+h*hd:], 3*d)
			}
		}
	})
}

// rowDots writes into dots[r] the float64 sum Σ_{u ≤ s+r} p_u·d_u of row r
// of p and d (row stride ld), u ascending, for the len(dots) ≤ 4 rows
// starting at position s: the rows' chains run side by side, each in its
// own order.
func rowDots[F float32 | float64](dots []float64, p, d []F, ld, s int) {
	if len(dots) < 4 {
		for r := range dots {
			pr, dr := p[r*ld:r*ld+s+r+1], d[r*ld:]
			dot := 0.0
			for u, pv := range pr {
				dot += float64(pv) * float64(dr[u])
			}
			dots[r] = dot
		}
		return
	}
	p0, p1, p2, p3 := p[:s+1], p[ld:ld+s+2], p[2*ld:2*ld+s+3], p[3*ld:3*ld+s+4]
	d0, d1, d2, d3 := d[:s+1], d[ld:ld+s+2], d[2*ld:2*ld+s+3], d[3*ld:3*ld+s+4]
	var a0, a1, a2, a3 float64
	for u := range p0 {
		a0 += float64(p0[u]) * float64(d0[u])
		a1 += float64(p1[u]) * float64(d1[u])
		a2 += float64(p2[u]) * float64(d2[u])
		a3 += float64(p3[u]) * float64(d3[u])
	}
	a1 += float64(p1[s+1]) * float64(d1[s+1])
	a2 += float64(p2[s+1]) * float64(d2[s+1])
	a2 += float64(p2[s+2]) * float64(d2[s+2])
	a3 += float64(p3[s+1]) * float64(d3[s+1])
	a3 += float64(p3[s+2]) * float64(d3[s+2])
	a3 += float64(p3[s+3]) * float64(d3[s+3])
	dots[0], dots[1], dots[2], dots[3] = a0, a1, a2, a3
}

// tokenLogpNode is out_i = Σ_v w_iv·log softmax(x_i)_v for logits x [N, V]
// and weights w [N, V] (the next-token one-hot); w is treated as constant.
// Each value is formed in float64 as Σ_v w_iv·(x_iv − logSumExp(x_i)), v
// ascending over the non-zero weights, then rounded to F; when keep is not
// nil every run also stores the float64 values in *keep (length N), which
// the runner sums into its outputs.
func tokenLogpNode(x, w *G.Node, keep *[]float64) (*G.Node, error) {
	lp := func(n int) []float64 {
		if keep == nil {
			return nil
		}
		return grow(keep, n)
	}
	// Each row's logSumExp and Σ_v w_iv, kept by the forward op for the
	// gradient op of the same run, which reads the same logits and weights.
	var lse, sw []float64
	return apply(&fusedOp{name: "tokenLogp", inDims: []int{2, 2}, diff: []bool{true, false},
		shape: func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][0]} },
		f32: func(o []float32, in [][]float32) {
			tokFwd(o, in[0], in[1], lp(len(o)), grow(&lse, len(o)), grow(&sw, len(o)))
		},
		f64: func(o []float64, in [][]float64) {
			tokFwd(o, in[0], in[1], lp(len(o)), grow(&lse, len(o)), grow(&sw, len(o)))
		},
		sym: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			dx, err := apply(&fusedOp{name: "tokenLogpGrad", inDims: []int{2, 2, 1}, shape: sameShape,
				f32: func(o []float32, in [][]float32) { tokBwd(o, in[0], in[1], in[2], lse, sw) },
				f64: func(o []float64, in [][]float64) { tokBwd(o, in[0], in[1], in[2], lse, sw) },
			}, in[0], in[1], grad)
			return G.Nodes{dx, nil}, err
		}}, x, w)
}

// tokFwd writes the target log-probs into o (rounded to F) and, if lp is
// not nil, into lp (float64), each row's logSumExp into lse and each row's
// Σ_v w_iv (from 0, v ascending) into sw; products are rounded before
// they are added (never fused, whatever GOAMD64 allows). For float32 on
// CPUs with the kernels, eight rows run at once, one to a vector lane,
// each with its own chains: the same operations in the same order as
// logSumExp and the scalar loop, math.Exp's exponentials (tok_amd64.s).
func tokFwd[F float32 | float64](o, x, w []F, lp, lse, sw []float64) {
	n := len(o)
	if n == 0 {
		return
	}
	v := len(x) / n
	if x32, ok := any(x).([]float32); ok && haveTokKernels && v > 0 && v < 1<<28 {
		w32 := any(w).([]float32)
		_, _ = x32[n*v-1], w32[n*v-1]
		var idx [8]int32
		for l := range idx {
			idx[l] = int32(l * v)
		}
		parallelFor((n+7)/8, 32*v, func(lo, hi int) {
			var st [24]float64
			var dot, ls [8]float64
			scr := make([]float64, 16*v)
			for b := lo; b < hi; b++ {
				r0 := 8 * b
				rows := min(8, n-r0)
				mask := 1<<rows - 1
				tokLse8(&st, &x32[r0*v], &w32[r0*v], &idx, v, mask, &scr[0])
				for l := range rows {
					ls[l] = st[l] + math.Log(st[8+l])
					lse[r0+l], sw[r0+l] = ls[l], st[16+l]
				}
				tokDot8(&dot, &scr[0], v, &ls)
				for l := range rows {
					o[r0+l] = F(dot[l])
					if lp != nil {
						lp[r0+l] = dot[l]
					}
				}
			}
		})
		return
	}
	parallelFor(n, 4*v, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr, wr := x[i*v:(i+1)*v], w[i*v:(i+1)*v]
			lse[i] = logSumExp(xr)
			s, sum := 0.0, 0.0
			for j, wv := range wr {
				sum += float64(wv)
				if wv != 0 {
					s += float64(float64(wv) * (float64(xr[j]) - lse[i])) // never fused
				}
			}
			o[i], sw[i] = F(s), sum
			if lp != nil {
				lp[i] = s
			}
		}
	})
}

// tokBwd writes g_i·(w_iv − softmax(x_i)_v·Σ_v w_iv), given each row's
// logSumExp in lse and Σ_v w_iv in sw, softmax(x_i)_v = math.Exp(x_iv −
// lse_i), in float64 rounded to F (no fused multiply-adds, whatever
// GOAMD64 allows); for float32 on CPUs with the kernels,
// eight columns at a time with math.Exp's bits (tok_amd64.s).
func tokBwd[F float32 | float64](o, x, w, g []F, lse, sw []float64) {
	v := len(x) / len(g)
	parallelFor(len(g), 3*v, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi, li, si := float64(g[i]), lse[i], sw[i]
			xr, wr, or := x[i*v:(i+1)*v], w[i*v:(i+1)*v], o[i*v:(i+1)*v]
			j := 0
			if o32, ok := any(or).([]float32); ok && haveTokKernels && v >= 8 {
				j = v &^ 7
				tokGrad8(&o32[0], &any(xr).([]float32)[0], &any(wr).([]float32)[0], j, gi, li, si)
			}
			for ; j < v; j++ {
				or[j] = F(gi * (float64(wr[j]) - float64(math.Exp(float64(xr[j])-li)*si))) // never fused
			}
		}
	})
}
