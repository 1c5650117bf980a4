package model

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Bench shape of the token log-probs and bias gradients: 32 rows of 63
// positions, vocabulary 64 (benchCfg).
const (
	tokBenchN = benchRows * benchLength
	tokBenchV = 64
)

// tokInputs returns logits x [n, v] and one-hot weights w [n, v] drawn
// from rng.
func tokInputs(rng *rand.Rand, n, v int) (x, w []float32) {
	x, w = make([]float32, n*v), make([]float32, n*v)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 3)
	}
	for i := range n {
		w[i*v+rng.IntN(v)] = 1
	}
	return x, w
}

func BenchmarkTokenLogp(b *testing.B) {
	rng := rand.New(rand.NewPCG(21, 21))
	x, w := tokInputs(rng, tokBenchN, tokBenchV)
	o, lp := make([]float32, tokBenchN), make([]float64, tokBenchN)
	lse, sw := make([]float64, tokBenchN), make([]float64, tokBenchN)
	g := make([]float32, tokBenchN)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	dx := make([]float32, len(x))
	b.Run("fwd", func(b *testing.B) {
		for b.Loop() {
			tokFwd(o, x, w, lp, lse, sw)
		}
	})
	tokFwd(o, x, w, lp, lse, sw)
	b.Run("bwd", func(b *testing.B) {
		for b.Loop() {
			tokBwd(dx, x, w, g, lse, sw)
		}
	})
}

func BenchmarkSumRows(b *testing.B) {
	rng := rand.New(rand.NewPCG(22, 22))
	for _, d := range []int{64, 128, 384, 512} {
		x := make([]float32, tokBenchN*d)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		o := make([]float32, d)
		b.Run("rows=2016/d="+strconv.Itoa(d), func(b *testing.B) {
			for b.Loop() {
				sumRows(o, x)
			}
		})
	}
}

// TestExpLanesMatchesMathExp: the kernels' exponential gives math.Exp's
// bits on special values, the edges of its ranges and random arguments
// over every exponent.
func TestExpLanesMatchesMathExp(t *testing.T) {
	if !haveTokKernels {
		t.Skip("no AVX-512 target log-prob kernels on this CPU")
	}
	args := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(),
		math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000123),
		709.782712893384, 709.78271289338397, 709.7827128933841, 709.7, 710, -708.39641853226408,
		-708.4, -709, -744.44007192138126, -745.13321910194122, -745.1332191019411, -746, -1100,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
		1e-300, -1e-300, 0.5 * math.Ln2, -0.5 * math.Ln2, -1e10, -3e9, -2147483648 * math.Ln2, 1e10}
	rng := rand.New(rand.NewPCG(23, 23))
	for range 1 << 20 {
		switch rng.IntN(4) {
		case 0:
			args = append(args, math.Float64frombits(rng.Uint64()))
		case 1:
			args = append(args, (rng.Float64()*2-1)*800)
		case 2:
			args = append(args, -rng.Float64()*40)
		default:
			args = append(args, math.Ldexp(rng.Float64()*2-1, rng.IntN(80)-60))
		}
	}
	for len(args)%32 != 0 {
		args = append(args, 0)
	}
	check := func(name string, args, got []float64) {
		for l, a := range args {
			if want := math.Exp(a); math.Float64bits(got[l]) != math.Float64bits(want) {
				t.Fatalf("%s: exp(%v) (bits %#x): got %v (%#x), math.Exp %v (%#x)", name, a, math.Float64bits(a), got[l], math.Float64bits(got[l]), want, math.Float64bits(want))
			}
		}
	}
	var got8 [8]float64
	var got32 [32]float64
	for i := 0; i < len(args); i += 32 {
		for k := i; k < i+32; k += 8 {
			expLanes8(&got8, (*[8]float64)(args[k:k+8]))
			check("one vector", args[k:k+8], got8[:])
		}
		expLanes32(&got32, (*[32]float64)(args[i:i+32]))
		check("four vectors", args[i:i+32], got32[:])
	}
}

// refLogSumExp, refTokFwd and refTokBwd are the plain per-row loops the
// kernels must reproduce bit for bit: max and Σexp chains from −Inf and 0,
// v ascending, math.Exp on float64(x_v) − max, each product rounded (the
// conversions keep GOAMD64=v3 from fusing it into an add).
func refLogSumExp[F float32 | float64](x []F) float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

func refTokFwd[F float32 | float64](o, x, w []F, lp, lse []float64) {
	v := len(x) / len(o)
	for i := range o {
		xr, wr := x[i*v:(i+1)*v], w[i*v:(i+1)*v]
		lse[i] = refLogSumExp(xr)
		s := 0.0
		for j, wv := range wr {
			if wv != 0 {
				s += float64(float64(wv) * (float64(xr[j]) - lse[i]))
			}
		}
		o[i], lp[i] = F(s), s
	}
}

func refTokBwd[F float32 | float64](o, x, w, g []F, lse []float64) {
	v := len(x) / len(g)
	for i, gi := range g {
		xr, wr, or := x[i*v:(i+1)*v], w[i*v:(i+1)*v], o[i*v:(i+1)*v]
		sw := 0.0
		for _, wv := range wr {
			sw += float64(wv)
		}
		for j, xv := range xr {
			or[j] = F(float64(gi) * (float64(wr[j]) - float64(math.Exp(float64(xv)-lse[i])*sw)))
		}
	}
}

// tokCase fills logits and weights for n rows of v: Gaussian logits of
// the given scale, one-hot weights, and in the rows picked by rng a NaN,
// ±Inf, huge or tiny logit, an all-zero weight row or a non-one-hot row
// (negative, fractional, several non-zero weights).
func tokCase[F float32 | float64](rng *rand.Rand, n, v int, scale float64) (x, w, g []F) {
	x, w, g = make([]F, n*v), make([]F, n*v), make([]F, n)
	for i := range x {
		x[i] = F(rng.NormFloat64() * scale)
	}
	for i := range n {
		g[i] = F(rng.NormFloat64())
		xr, wr := x[i*v:(i+1)*v], w[i*v:(i+1)*v]
		wr[rng.IntN(v)] = 1
		switch rng.IntN(12) {
		case 0:
			xr[rng.IntN(v)] = F(math.NaN())
		case 1:
			xr[rng.IntN(v)] = F(math.Inf(1))
		case 2:
			xr[rng.IntN(v)] = F(math.Inf(-1))
		case 3:
			for j := range xr {
				xr[j] = F(math.Inf(-1))
			}
			xr[rng.IntN(v)] = 0
		case 4:
			xr[rng.IntN(v)] = 3e38
			xr[rng.IntN(v)] = -3e38
		case 5:
			clear(wr)
		case 6:
			for j := range wr {
				if rng.IntN(3) == 0 {
					wr[j] = F(rng.NormFloat64())
				}
			}
		case 7:
			xr[rng.IntN(v)] = F(math.Copysign(0, -1))
			xr[rng.IntN(v)] = 0
		case 8:
			for j := range xr {
				xr[j] = F(rng.NormFloat64() * 300)
			}
		case 9:
			xr[rng.IntN(v)] = F(math.NaN())
			xr[rng.IntN(v)] = F(math.Inf(1))
		}
	}
	return x, w, g
}

// sameBits reports whether got has want's bits, or both are NaN: x86
// passes on the payload and sign of the first NaN operand, and the
// compiler may order the operands of a commutative + or × either way, so
// the source fixes which NaN only up to that (the runner refuses any NaN
// output).
func sameBits[F float32 | float64](want, got F) bool {
	if want != want && got != got {
		return true
	}
	if w32, ok := any(want).(float32); ok {
		return math.Float32bits(w32) == math.Float32bits(any(got).(float32))
	}
	return math.Float64bits(float64(want)) == math.Float64bits(float64(got))
}

func testTokBitIdentical[F float32 | float64](t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 24))
	for _, v := range []int{1, 3, 8, 17, 64, 67} {
		for _, n := range []int{1, 5, 8, 13, 31, 1003} {
			for _, scale := range []float64{0.5, 5, 80} {
				x, w, g := tokCase[F](rng, n, v, scale)
				o, lp, lse, sw := make([]F, n), make([]float64, n), make([]float64, n), make([]float64, n)
				ro, rlp, rlse := make([]F, n), make([]float64, n), make([]float64, n)
				tokFwd(o, x, w, lp, lse, sw)
				refTokFwd(ro, x, w, rlp, rlse)
				for i := range n {
					require.True(t, sameBits(rlse[i], lse[i]), "v=%d n=%d row %d: logSumExp %v, reference %v", v, n, i, lse[i], rlse[i])
					require.True(t, sameBits(refLogSumExp(x[i*v:(i+1)*v]), logSumExp(x[i*v:(i+1)*v])), "v=%d n=%d row %d: logSumExp", v, n, i)
					require.True(t, sameBits(rlp[i], lp[i]), "v=%d n=%d row %d: log-prob %v, reference %v", v, n, i, lp[i], rlp[i])
					require.True(t, sameBits(ro[i], o[i]), "v=%d n=%d row %d: output %v, reference %v", v, n, i, o[i], ro[i])
				}
				dx, rdx := make([]F, n*v), make([]F, n*v)
				tokBwd(dx, x, w, g, lse, sw)
				refTokBwd(rdx, x, w, g, rlse)
				for k := range dx {
					require.True(t, sameBits(rdx[k], dx[k]), "v=%d n=%d row %d column %d: gradient %v, reference %v", v, n, k/v, k%v, dx[k], rdx[k])
				}
			}
		}
	}
}

// TestTokenLogpBitIdentical: tokFwd and tokBwd give the plain loops' bits
// (outputs, float64 log-probs, logSumExp, gradients) at row counts and
// vocabularies that are not multiples of the kernels' eight, with NaN,
// infinite, huge and signed-zero logits, zero and non-one-hot weights, in
// float32 and float64, with the kernels and without.
func TestTokenLogpBitIdentical(t *testing.T) {
	t.Run("float32", testTokBitIdentical[float32])
	t.Run("float64", testTokBitIdentical[float64])
	if haveTokKernels {
		haveTokKernels = false
		defer func() { haveTokKernels = true }()
		t.Run("float32 without kernels", testTokBitIdentical[float32])
	}
}

// refSumRows is the plain column sum: per column the first row, then each
// next row added in order, in F.
func refSumRows[F float32 | float64](o, x []F) {
	d := len(o)
	copy(o, x[:d])
	for i := 1; i < len(x)/d; i++ {
		for k := range o {
			o[k] += x[i*d+k]
		}
	}
}

func testSumRowsBitIdentical[F float32 | float64](t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 25))
	for _, d := range []int{1, 16, 33, 95, 128, 200, 384, 512, 1000} {
		for _, rows := range []int{1, 2, 7, 300} {
			x := make([]F, rows*d)
			for i := range x {
				x[i] = F(rng.NormFloat64() * math.Exp(rng.NormFloat64()*4))
			}
			x[rng.IntN(len(x))] = F(math.NaN())
			x[rng.IntN(len(x))] = F(math.Inf(1))
			x[rng.IntN(len(x))] = F(math.Inf(-1))
			x[rng.IntN(len(x))] = F(math.Copysign(0, -1))
			got, want := make([]F, d), make([]F, d)
			sumRows(got, x)
			refSumRows(want, x)
			for j := range got {
				require.True(t, sameBits(want[j], got[j]), "d=%d rows=%d column %d: %v, reference %v", d, rows, j, got[j], want[j])
			}
		}
	}
}

// TestSumRowsBitIdentical: sumRows gives the plain loop's bits at widths
// with 128-, 64-, 32-, 16-column and scalar parts, one row or several,
// NaN, infinities and −0 included, in float32 and float64.
func TestSumRowsBitIdentical(t *testing.T) {
	t.Run("float32", testSumRowsBitIdentical[float32])
	t.Run("float64", testSumRowsBitIdentical[float64])
}
