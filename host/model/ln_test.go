package model

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// The reference LayerNorm: the code the new paths must match bit for bit,
// as it was before them: scalar loops, and for float32 with AVX-512 the
// 8-column kernels lnBwdXRow8 and lnGainRow8 (whose NaN signs can differ
// from the scalar loops'), run on one core.

func refRowStats[F float32 | float64](x []F) (mu, rstd float64) {
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

func refLnFwd[F float32 | float64](y, x, gain, bias []F, stats []float64) {
	d := len(gain)
	for i := range len(x) / d {
		xr, yr := x[i*d:(i+1)*d], y[i*d:(i+1)*d]
		mu, rstd := refRowStats(xr)
		stats[2*i], stats[2*i+1] = mu, rstd
		for k, v := range xr {
			yr[k] = F((float64(v)-mu)*rstd)*gain[k] + bias[k]
		}
	}
}

func refLnBwdX[F float32 | float64](o, x, gain, dy []F, stats []float64) {
	d := len(gain)
	for i := range len(x) / d {
		xr, gr, or := x[i*d:(i+1)*d], dy[i*d:(i+1)*d], o[i*d:(i+1)*d]
		mu, r := stats[2*i], stats[2*i+1]
		mg, mgx := 0.0, 0.0
		for k, v := range xr {
			g := float64(gr[k]) * float64(gain[k])
			mg += g
			mgx += g * (float64(v) - mu) * r
		}
		mg /= float64(d)
		mgx /= float64(d)
		k0 := 0
		if o32, ok := any(or).([]float32); ok && haveAVX512 && d >= 8 {
			k0 = d &^ 7
			lnBwdXRow8(&o32[0], &any(xr).([]float32)[0], &any(gr).([]float32)[0], &any(gain).([]float32)[0], k0, mu, r, mg, mgx)
		}
		for k := k0; k < d; k++ {
			g := float64(gr[k]) * float64(gain[k])
			or[k] = F(r * (g - mg - (float64(xr[k])-mu)*r*mgx))
		}
	}
}

func refLnBwdGain[F float32 | float64](o, x, dy []F, stats []float64) {
	d := len(o)
	acc := make([]float64, d)
	for i := range len(x) / d {
		xr, gr := x[i*d:(i+1)*d], dy[i*d:(i+1)*d]
		mu, r := stats[2*i], stats[2*i+1]
		k0 := 0
		if x32, ok := any(xr).([]float32); ok && haveAVX512 && d >= 8 {
			k0 = d &^ 7
			lnGainRow8(&acc[0], &x32[0], &any(gr).([]float32)[0], k0, mu, r)
		}
		for k := k0; k < d; k++ {
			acc[k] += float64(gr[k]) * (float64(xr[k]) - mu) * r
		}
	}
	for k, v := range acc {
		o[k] = F(v)
	}
}

// lnCase fills x, dy [m, d] and gain, bias [d] with values over many
// scales and, when special, rows of NaN, ±Inf, huge values, signed zeros
// and constant rows, zero gains and biases of sign −, and at odd widths a
// NaN gain and an infinite bias.
func lnCase[F float32 | float64](rng *rand.Rand, m, d int, special bool) (x, dy, gain, bias []F) {
	x, dy, gain, bias = make([]F, m*d), make([]F, m*d), make([]F, d), make([]F, d)
	for _, s := range [][]F{x, dy, gain, bias} {
		for i := range s {
			s[i] = F(rng.NormFloat64() * math.Exp(2*rng.NormFloat64()))
		}
	}
	if !special {
		return x, dy, gain, bias
	}
	nan, inf := F(math.NaN()), F(math.Inf(1))
	for i := range m {
		row := x[i*d : (i+1)*d]
		switch i % 11 {
		case 1:
			row[rng.IntN(d)] = nan
		case 2:
			row[rng.IntN(d)] = inf
		case 3:
			row[rng.IntN(d)] = -inf
			row[rng.IntN(d)] = inf
			row[rng.IntN(d)] = nan
		case 4:
			row[rng.IntN(d)] = 3e38
			row[rng.IntN(d)] = -2e38
		case 5:
			for k := range row {
				row[k] = 0.75 // σ² = 0
			}
		case 6:
			for k := range row {
				row[k] = F(math.Copysign(0, float64(k%2)-0.5))
			}
		case 7:
			dy[i*d+rng.IntN(d)] = nan
			dy[i*d+rng.IntN(d)] = -inf
		case 8:
			dy[i*d+rng.IntN(d)] = 1e38
		}
	}
	negZero := F(math.Copysign(0, -1))
	gain[rng.IntN(d)], bias[rng.IntN(d)] = negZero, negZero
	if d%2 == 1 && d > 3 {
		// A NaN gain makes every row's gradient NaN: odd widths only.
		gain[d-1], bias[d-2] = nan, inf
	}
	return x, dy, gain, bias
}

// requireSameBits fails unless got and want hold the same bits; with
// anyNaN, a NaN matches any NaN (sign and payload aside).
func requireSameBits[F float32 | float64](t *testing.T, want, got []F, anyNaN bool, what string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		// float32 → float64 keeps every bit, NaN payloads and signs included.
		w, g := float64(want[i]), float64(got[i])
		if math.Float64bits(w) != math.Float64bits(g) && !(anyNaN && math.IsNaN(w) && math.IsNaN(g)) {
			t.Fatalf("%s[%d]: got %v (%#x), want %v (%#x)", what, i, g, math.Float64bits(g), w, math.Float64bits(w))
		}
	}
}

// checkLayerNorm runs the three LayerNorm ops on x, dy, gain, bias and
// requires the reference loops' bits.
func checkLayerNorm[F float32 | float64](t *testing.T, x, dy, gain, bias []F, name string) {
	t.Helper()
	m, d := len(x)/len(gain), len(gain)
	wantY, wantStats := make([]F, m*d), make([]float64, 2*m)
	refLnFwd(wantY, x, gain, bias, wantStats)
	wantDx, wantDg := make([]F, m*d), make([]F, d)
	refLnBwdX(wantDx, x, gain, dy, wantStats)
	refLnBwdGain(wantDg, x, dy, wantStats)

	// A NaN's sign and payload depend on which operand the compiler puts
	// first in the scalar loops (the race detector's build orders them
	// otherwise), and already differed between the gradients' vector and
	// scalar paths: any NaN matches any NaN, every other value bit for bit.
	y, stats := make([]F, m*d), make([]float64, 2*m)
	lnFwd(y, x, gain, bias, stats)
	requireSameBits(t, wantStats, stats, true, name+": stats")
	requireSameBits(t, wantY, y, true, name+": y")
	y2 := make([]F, m*d)
	layerNormRows(y2, x, gain, bias, m, d)
	requireSameBits(t, wantY, y2, true, name+": layerNormRows")
	dx, dg := make([]F, m*d), make([]F, d)
	lnBwdX(dx, x, gain, dy, stats)
	requireSameBits(t, wantDx, dx, true, name+": dx")
	lnBwdGain(dg, x, dy, stats)
	requireSameBits(t, wantDg, dg, true, name+": dgain")
}

// TestLayerNormBitIdentical: LayerNorm forward and both gradients give the
// reference loops' bits in float32 and float64, with and without the
// AVX-512 kernels, at widths around multiples of 8 and 64, row counts that
// are not multiples of 8, rows split over 1 to 3 cores, and NaN, ±Inf,
// huge values, signed zeros and constant rows.
func TestLayerNormBitIdentical(t *testing.T) {
	defer func(procs int) {
		setVectorKernels(true)
		runtime.GOMAXPROCS(procs)
	}(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(31, 31))
	for _, d := range []int{1, 3, 7, 8, 9, 16, 37, 63, 64, 72, 128, 130, 200} {
		for _, m := range []int{1, 7, 8, 9, 17, 301} {
			for _, special := range []bool{false, true} {
				x, dy, gain, bias := lnCase[float32](rng, m, d, special)
				x64, dy64, gain64, bias64 := lnCase[float64](rng, m, d, special)
				for _, v := range vectorModes() {
					setVectorKernels(v)
					for _, procs := range []int{1, 2, 3} {
						runtime.GOMAXPROCS(procs)
						name := "d=" + itoa(d) + " m=" + itoa(m) + " procs=" + itoa(procs)
						if special {
							name += " special"
						}
						if v {
							name += " avx512"
						}
						checkLayerNorm(t, x, dy, gain, bias, name+" float32")
						checkLayerNorm(t, x64, dy64, gain64, bias64, name+" float64")
					}
				}
			}
		}
	}
}

// TestLayerNormRowIndependent: a row's LayerNorm bits do not depend on
// the rows around it or on its place, whether it runs in a group of eight
// rows or alone.
func TestLayerNormRowIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	const d = 40
	x, _, gain, bias := lnCase[float32](rng, 23, d, true)
	y := make([]float32, len(x))
	layerNormRows(y, x, gain, bias, 23, d)
	for i := range 23 {
		one := make([]float32, d)
		layerNormRows(one, x[i*d:(i+1)*d], gain, bias, 1, d)
		requireSameBits(t, y[i*d:(i+1)*d], one, false, "row "+itoa(i))
	}
}

// BenchmarkLayerNorm is the float32 LayerNorm forward and its two gradient
// ops at the bench shape (2016 positions, D=128) and the large shape (4080
// positions, D=512).
func BenchmarkLayerNorm(b *testing.B) {
	for _, sh := range []struct{ m, d int }{{2016, 128}, {4080, 512}} {
		m, d := sh.m, sh.d
		rng := rand.New(rand.NewPCG(21, 21))
		x, dy, y := make([]float32, m*d), make([]float32, m*d), make([]float32, m*d)
		gain, bias, dg := make([]float32, d), make([]float32, d), make([]float32, d)
		for i := range x {
			x[i], dy[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		for k := range gain {
			gain[k], bias[k] = float32(1+0.1*rng.NormFloat64()), float32(0.1*rng.NormFloat64())
		}
		stats := make([]float64, 2*m)
		lnFwd(y, x, gain, bias, stats)
		for _, bc := range []struct {
			name string
			f    func()
		}{
			{"fwd", func() { lnFwd(y, x, gain, bias, stats) }},
			{"gradX", func() { lnBwdX(y, x, gain, dy, stats) }},
			{"gradGain", func() { lnBwdGain(dg, x, dy, stats) }},
		} {
			b.Run(itoa(m)+"x"+itoa(d)+"/"+bc.name, func(b *testing.B) {
				cpu0 := cpuTime(b)
				for b.Loop() {
					bc.f()
				}
				b.ReportMetric(float64(cpuTime(b)-cpu0)/1e6/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
