package model

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// engine is gorgonia's CPU engine with Add of two dense float tensors
// of one shape (the gradient sums of the backward pass) split over the
// cores, in place or into the reused tensor. Each element is the same
// single addition, so results are gorgonia's bit for bit.
type engine struct{ G.StandardEngine }

// engineMinAdd is the fewest elements an Add splits over the cores.
const engineMinAdd = 1 << 14

func (e engine) Add(a, b tensor.Tensor, opts ...tensor.FuncOpt) (tensor.Tensor, error) {
	ad, aok := a.(*tensor.Dense)
	bd, bok := b.(*tensor.Dense)
	if !aok || !bok || !plainDense(ad) || !plainDense(bd) || a.Dtype() != b.Dtype() ||
		!a.Shape().Eq(b.Shape()) || a.DataSize() < engineMinAdd {
		return e.StandardEngine.Add(a, b, opts...)
	}
	fo := tensor.ParseFuncOpts(opts...)
	var out *tensor.Dense
	switch r := fo.Reuse(); {
	case fo.Incr() != nil:
		return e.StandardEngine.Add(a, b, opts...)
	case r != nil:
		rd, ok := r.(*tensor.Dense)
		if !ok || !plainDense(rd) || rd.Dtype() != a.Dtype() || rd.DataSize() != a.DataSize() {
			return e.StandardEngine.Add(a, b, opts...)
		}
		out = rd
	case !fo.Safe():
		out = ad
	default:
		return e.StandardEngine.Add(a, b, opts...)
	}
	switch o := out.Data().(type) {
	case []float32:
		addVectors(o, ad.Data().([]float32), bd.Data().([]float32))
	case []float64:
		addVectors(o, ad.Data().([]float64), bd.Data().([]float64))
	default:
		return e.StandardEngine.Add(a, b, opts...)
	}
	return out, nil
}

// plainDense reports whether t's elements are its backing array in row
// order, unmasked.
func plainDense(t *tensor.Dense) bool {
	return !t.IsView() && !t.IsMasked() && !t.RequiresIterator() && t.DataOrder().IsRowMajor()
}

// addVectors writes a[i] + b[i] into o[i], split over the cores.
func addVectors[F float32 | float64](o, a, b []F) {
	n := len(o)
	a, b = a[:n], b[:n]
	parallelFor(n, 1, func(lo, hi int) {
		if o32, ok := any(o).([]float32); ok && haveAVX512 && hi-lo >= 16 {
			n16 := (hi - lo) &^ 15
			addRow16(&o32[lo], &any(a).([]float32)[lo], &any(b).([]float32)[lo], n16)
			lo += n16
		}
		for i := lo; i < hi; i++ {
			o[i] = a[i] + b[i]
		}
	})
}
