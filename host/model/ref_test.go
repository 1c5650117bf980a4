package model

import "math"

// refOutputs is a plain float64 forward of the model, written from the
// architecture description without gorgonia, used to check the graph.
func refOutputs(w *Weights, b *Batch, outputs int) []float64 {
	c := w.Config()
	out := make([]float64, outputs)
	for _, s := range b.Spans {
		lp := refRowLogps(w, c, b.Rows[s.Row])
		for j := s.From; j < s.To; j++ {
			out[s.Out] += lp[j-1][b.Rows[s.Row][j]]
		}
	}
	return out
}

func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// refRowLogps returns log p(· | row[:t+1]) for every input position t of a
// row (the last token of the row is not an input when it is a target only).
func refRowLogps(w *Weights, c Config, row []int) [][]float64 {
	T := len(row) - 1
	if T == 0 {
		return nil
	}
	D, H, hd := c.Width, c.Heads, c.HeadDim()
	P := func(n string) []float64 { return f64(w.Data(n)) }
	tok, pos := P("tok.weight"), P("pos.weight")
	x := make([][]float64, T)
	for t := range T {
		x[t] = make([]float64, D)
		for d := range D {
			x[t][d] = tok[row[t]*D+d] + pos[t*D+d]
		}
	}
	ln := func(v []float64, g, bb []float64) []float64 {
		mu, va := 0.0, 0.0
		for _, a := range v {
			mu += a
		}
		mu /= float64(len(v))
		for _, a := range v {
			va += (a - mu) * (a - mu)
		}
		va /= float64(len(v))
		o := make([]float64, len(v))
		for i, a := range v {
			o[i] = (a-mu)/math.Sqrt(va+1e-5)*g[i] + bb[i]
		}
		return o
	}
	lin := func(v, W, bias []float64, out int) []float64 {
		o := make([]float64, out)
		for j := range out {
			s := 0.0
			if bias != nil {
				s = bias[j]
			}
			for i, a := range v {
				s += a * W[i*out+j]
			}
			o[j] = s
		}
		return o
	}
	for l := range c.Layers {
		pre := "blocks." + itoa(l) + "."
		qkv := make([][]float64, T)
		for t := range T {
			qkv[t] = lin(ln(x[t], P(pre+"ln1.gain"), P(pre+"ln1.bias")), P(pre+"attn.qkv.weight"), P(pre+"attn.qkv.bias"), 3*D)
		}
		att := make([][]float64, T)
		for t := range T {
			att[t] = make([]float64, D)
			for h := range H {
				sc := make([]float64, t+1)
				m := math.Inf(-1)
				for u := 0; u <= t; u++ {
					for e := range hd {
						sc[u] += qkv[t][h*hd+e] * qkv[u][D+h*hd+e]
					}
					sc[u] /= math.Sqrt(float64(hd))
					m = math.Max(m, sc[u])
				}
				z := 0.0
				for u := range sc {
					sc[u] = math.Exp(sc[u] - m)
					z += sc[u]
				}
				for u := range sc {
					for e := range hd {
						att[t][h*hd+e] += sc[u] / z * qkv[u][2*D+h*hd+e]
					}
				}
			}
		}
		for t := range T {
			p := lin(att[t], P(pre+"attn.proj.weight"), P(pre+"attn.proj.bias"), D)
			for d := range D {
				x[t][d] += p[d]
			}
			hdn := lin(ln(x[t], P(pre+"ln2.gain"), P(pre+"ln2.bias")), P(pre+"mlp.fc.weight"), P(pre+"mlp.fc.bias"), c.Hidden())
			for i, a := range hdn {
				hdn[i] = 0.5 * a * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(a+0.044715*a*a*a)))
			}
			p = lin(hdn, P(pre+"mlp.proj.weight"), P(pre+"mlp.proj.bias"), D)
			for d := range D {
				x[t][d] += p[d]
			}
		}
	}
	res := make([][]float64, T)
	for t := range T {
		logits := lin(ln(x[t], P("lnf.gain"), P("lnf.bias")), P("head.weight"), nil, c.Vocab)
		m := math.Inf(-1)
		for _, a := range logits {
			m = math.Max(m, a)
		}
		z := 0.0
		for _, a := range logits {
			z += math.Exp(a - m)
		}
		for i := range logits {
			logits[i] -= m + math.Log(z)
		}
		res[t] = logits
	}
	return res
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
