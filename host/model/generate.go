package model

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"gorgonia.org/tensor"
)

// Stop reasons of a [Sample].
const (
	StopEOS     = "eos"     // the model sampled the end-of-sequence token (kept as the last token)
	StopLength  = "length"  // MaxTokens completion tokens were sampled
	StopContext = "context" // the sequence filled the model's context: Context+1 tokens
)

// Default sampling settings of [SampleOptions.withDefaults].
const (
	DefaultMaxTokens = 64 // completion tokens per sample
	DefaultGenBatch  = 64 // rows decoded together; bounds the KV cache's memory
)

// SampleOptions configures [Generate]. The zero value decodes greedily,
// without EOS, up to DefaultMaxTokens tokens; Temperature 1 samples from
// the model's distribution.
type SampleOptions struct {
	// Temperature divides the logits before sampling; 0 is greedy
	// (argmax, lowest id on ties).
	Temperature float64
	// TopK keeps the k most likely tokens (ties broken by lower id); 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// (after temperature and TopK) reaches TopP, at least one token, as
	// Hugging Face's TopPLogitsWarper; 0 or 1 keeps all.
	TopP float64
	// MaxTokens bounds the completion length; 0 means DefaultMaxTokens.
	MaxTokens int
	// EOS is the end-of-sequence id, or −1 (or any value outside the
	// vocabulary, e.g. from a tokenizer without EOS) for none.
	EOS int
	// Seed seeds every row's generator: row i of a call draws from
	// PCG(Seed, i), so a sample depends on (weights, prompt, options, i)
	// only, not on the batch size or the other prompts.
	Seed uint64
	// Batch is the number of rows decoded together (default DefaultGenBatch).
	Batch int
}

func (o SampleOptions) withDefaults() SampleOptions {
	if o.MaxTokens == 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.Batch == 0 {
		o.Batch = DefaultGenBatch
	}
	return o
}

func (o SampleOptions) validate() error {
	switch {
	case math.IsNaN(o.Temperature) || o.Temperature < 0 || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("model: temperature must be finite and ≥ 0, got %v", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("model: top-k must be ≥ 0, got %d", o.TopK)
	case math.IsNaN(o.TopP) || o.TopP < 0 || o.TopP > 1:
		return fmt.Errorf("model: top-p must be in [0, 1], got %v", o.TopP)
	case o.MaxTokens < 1:
		return fmt.Errorf("model: max tokens must be ≥ 1, got %d", o.MaxTokens)
	case o.Batch < 1:
		return fmt.Errorf("model: batch must be ≥ 1, got %d", o.Batch)
	}
	return nil
}

// Sample is one generated sequence.
type Sample struct {
	Tokens    []int // prompt then completion
	PromptLen int   // Tokens[:PromptLen] is the prompt
	// TokenLogProbs[j] is log p(Tokens[PromptLen+j] | Tokens[:PromptLen+j])
	// under the model itself (temperature 1, no top-k or top-p), and
	// LogProb their sum, j ascending from 0.0: exactly what [Scorer.ScoreAll]
	// returns for Seq{Tokens, PromptLen, len(Tokens)} with the same weights
	// and dtype.
	TokenLogProbs []float64
	LogProb       float64
	Stop          string // StopEOS, StopLength or StopContext
}

// Completion returns the generated tokens, EOS included when sampled.
func (s Sample) Completion() []int { return s.Tokens[s.PromptLen:] }

// Generate samples one completion per prompt, autoregressively, with a
// key/value cache: each step runs one new position per unfinished row and
// reuses the keys and values of its earlier positions. Every position goes
// through the arithmetic of [Scorer] (the same functions on the same
// operands; see the package documentation), so the log-probs of a sample
// equal the scorer's bit for bit. Only [WithFloat64] of the options
// applies.
//
// A prompt must hold 1 to Context tokens (prompt ids in [0, Vocab)); the
// completion stops at EOS, after MaxTokens tokens, or when the sequence
// holds Context+1 tokens (the longest the model scores), with that reason.
// Generate checks ctx between steps.
func Generate(ctx context.Context, w *Weights, prompts [][]int, so SampleOptions, opts ...Option) ([]Sample, error) {
	so = so.withDefaults()
	if err := so.validate(); err != nil {
		return nil, err
	}
	cfg := w.cfg
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("model: prompt %d is empty", i)
		}
		if len(p) > cfg.Context {
			return nil, fmt.Errorf("model: prompt %d has %d tokens, more than the context %d", i, len(p), cfg.Context)
		}
		for j, t := range p {
			if t < 0 || t >= cfg.Vocab {
				return nil, fmt.Errorf("model: prompt %d token %d: id %d outside [0, %d)", i, j, t, cfg.Vocab)
			}
		}
	}
	out := make([]Sample, len(prompts))
	o := resolve(cfg, opts)
	var err error
	if o.dt == tensor.Float64 {
		g := newDecoder(w, weightsAs[float64](w, nil), so)
		err = g.run(ctx, prompts, out)
	} else {
		g := newDecoder(w, weightsAs[float32](w, nil), so)
		err = g.run(ctx, prompts, out)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decoder holds the state of Generate for one dtype.
type decoder[F float32 | float64] struct {
	w  *Weights
	p  fwdWeights[F]
	so SampleOptions
	// per-layer weights, looked up once
	tokW, posW, lnfG, lnfB, head []F
	layers                       []layerWeights[F]
	// work arrays of one step, for up to so.Batch rows
	x, h, y, qkv, att, u, logits []F
	// cache[r][l] holds k | v of row r's positions at layer l, [Context, 2D]
	cache [][][]F
	probs []float64
	order []int
}

type layerWeights[F float32 | float64] struct {
	ln1G, ln1B, qkvW, qkvB, projW, projB, ln2G, ln2B, fcW, fcB, downW, downB []F
}

func newDecoder[F float32 | float64](w *Weights, p fwdWeights[F], so SampleOptions) *decoder[F] {
	g := &decoder[F]{w: w, p: p, so: so}
	idx := func(name string) []F { return p[w.index[name]] }
	g.tokW, g.posW = idx("tok.weight"), idx("pos.weight")
	g.lnfG, g.lnfB, g.head = idx("lnf.gain"), idx("lnf.bias"), idx("head.weight")
	for l := range w.cfg.Layers {
		pre := "blocks." + strconv.Itoa(l) + "."
		g.layers = append(g.layers, layerWeights[F]{
			idx(pre + "ln1.gain"), idx(pre + "ln1.bias"),
			idx(pre + "attn.qkv.weight"), idx(pre + "attn.qkv.bias"),
			idx(pre + "attn.proj.weight"), idx(pre + "attn.proj.bias"),
			idx(pre + "ln2.gain"), idx(pre + "ln2.bias"),
			idx(pre + "mlp.fc.weight"), idx(pre + "mlp.fc.bias"),
			idx(pre + "mlp.proj.weight"), idx(pre + "mlp.proj.bias"),
		})
	}
	return g
}

// run decodes the prompts so.Batch at a time into out.
func (g *decoder[F]) run(ctx context.Context, prompts [][]int, out []Sample) error {
	for lo := 0; lo < len(prompts); lo += g.so.Batch {
		hi := min(lo+g.so.Batch, len(prompts))
		if err := g.batch(ctx, prompts[lo:hi], out[lo:hi], lo); err != nil {
			return err
		}
	}
	return nil
}

// batch decodes prompts (rows base, base+1, … of the call) into out.
func (g *decoder[F]) batch(ctx context.Context, prompts [][]int, out []Sample, base int) error {
	cfg := g.w.cfg
	n, d := len(prompts), cfg.Width
	for len(g.cache) < n {
		c := make([][]F, cfg.Layers)
		for l := range c {
			c[l] = make([]F, cfg.Context*2*d)
		}
		g.cache = append(g.cache, c)
	}
	rngs := make([]*rand.Rand, n)
	for i, p := range prompts {
		rngs[i] = rand.New(rand.NewPCG(g.so.Seed, uint64(base+i)))
		out[i] = Sample{Tokens: slices.Clone(p), PromptLen: len(p)}
	}
	// Row i feeds position pos[i], token out[i].Tokens[pos[i]], each step.
	active := make([]int, n)
	for i := range active {
		active[i] = i
	}
	pos := make([]int, n)
	for len(active) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("model: generate: %w", err)
		}
		g.step(active, pos, out)
		vocab := cfg.Vocab
		next := active[:0]
		for k, i := range active {
			s := &out[i]
			p := pos[i] + 1 // the position whose token the logits predict
			pos[i] = p
			if p < s.PromptLen {
				next = append(next, i) // still reading the prompt
				continue
			}
			row := g.logits[k*vocab : (k+1)*vocab]
			tok := g.pick(row, rngs[i])
			s.Tokens = append(s.Tokens, tok)
			lp := float64(row[tok]) - logSumExp(row)
			s.TokenLogProbs = append(s.TokenLogProbs, lp)
			s.LogProb += lp
			switch {
			case tok == g.so.EOS:
				s.Stop = StopEOS
			case len(s.TokenLogProbs) >= g.so.MaxTokens:
				s.Stop = StopLength
			case p >= cfg.Context: // the next step would need position Context
				s.Stop = StopContext
			default:
				next = append(next, i)
			}
		}
		active = next
	}
	return nil
}

// step runs position pos[i] of every row i in active, token
// out[i].Tokens[pos[i]], storing its keys and values in the cache and the
// next-token logits of active[k] in g.logits[k·Vocab:].
func (g *decoder[F]) step(active, pos []int, out []Sample) {
	cfg := g.w.cfg
	m, d, hid, vocab, heads := len(active), cfg.Width, cfg.Hidden(), cfg.Vocab, cfg.Heads
	hd := d / heads
	x := grow(&g.x, m*d)
	h := grow(&g.h, m*d)
	y := grow(&g.y, m*d)
	qkv := grow(&g.qkv, m*3*d)
	att := grow(&g.att, m*d)
	u := grow(&g.u, m*hid)
	logits := grow(&g.logits, m*vocab)
	for k, i := range active {
		t := pos[i]
		xr, te, pe := x[k*d:(k+1)*d], g.tokW[out[i].Tokens[t]*d:], g.posW[t*d:]
		for j := range xr {
			xr[j] = te[j] + pe[j]
		}
	}
	for l, lw := range g.layers {
		layerNormRows(h, x, lw.ln1G, lw.ln1B, m, d)
		linear(qkv, h, lw.qkvW, lw.qkvB, m, d, 3*d)
		for k, i := range active {
			t := pos[i]
			copy(g.cache[i][l][t*2*d:(t+1)*2*d], qkv[k*3*d+d:(k+1)*3*d])
		}
		parallelFor(m, 4*d*(pos[active[0]]+1), func(lo, hi int) {
			var ws attnWork[F]
			for k := lo; k < hi; k++ {
				i := active[k]
				t, kv := pos[i], g.cache[i][l]
				for hh := range heads {
					attnBlock(att[k*d+hh*hd:], d, qkv[k*3*d+hh*hd:], 3*d, kv[hh*hd:], kv[d+hh*hd:], 2*d, 1, t+1, t, hd, &ws, nil)
				}
			}
		})
		residual(x, x, y, att, lw.projW, lw.projB, m, d, d)
		layerNormRows(h, x, lw.ln2G, lw.ln2B, m, d)
		linear(u, h, lw.fcW, lw.fcB, m, d, hid)
		geluFwd(u, u)
		residual(x, x, y, u, lw.downW, lw.downB, m, hid, d)
	}
	layerNormRows(h, x, g.lnfG, g.lnfB, m, d)
	linear(logits, h, g.head, nil, m, d, vocab)
}

// pick draws the next token from logits with the sampling options: greedy
// is the argmax (lowest id on ties); otherwise probabilities
// softmax(logits/T) in float64, cut to the TopK most likely (ties by lower
// id), then to the TopP nucleus, and one draw u ~ U[0, mass) walks the kept
// tokens from most to least likely (in id order when nothing is cut).
func (g *decoder[F]) pick(logits []F, rng *rand.Rand) int {
	if g.so.Temperature == 0 {
		best := 0
		for j, v := range logits {
			if v > logits[best] {
				best = j
			}
		}
		return best
	}
	vocab := len(logits)
	if cap(g.probs) < vocab {
		g.probs = make([]float64, vocab)
		g.order = make([]int, vocab)
	}
	probs, order := g.probs[:vocab], g.order[:vocab]
	mx := math.Inf(-1)
	for j, v := range logits {
		probs[j] = float64(v) / g.so.Temperature
		mx = math.Max(mx, probs[j])
		order[j] = j
	}
	z := 0.0
	for j := range probs {
		probs[j] = math.Exp(probs[j] - mx)
		z += probs[j]
	}
	for j := range probs {
		probs[j] /= z
	}
	keep := vocab
	truncate := (g.so.TopK > 0 && g.so.TopK < vocab) || (g.so.TopP > 0 && g.so.TopP < 1)
	if truncate {
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(probs[b], probs[a]) })
	}
	if g.so.TopK > 0 {
		keep = min(keep, g.so.TopK)
	}
	mass := 0.0
	for j := range keep {
		mass += probs[order[j]]
	}
	if g.so.TopP > 0 && g.so.TopP < 1 {
		c, target := 0.0, g.so.TopP*mass
		for j := range keep {
			c += probs[order[j]]
			if c >= target {
				keep = j + 1
				break
			}
		}
		mass = 0
		for j := range keep {
			mass += probs[order[j]]
		}
	}
	r := rng.Float64() * mass
	c := 0.0
	for j := range keep - 1 {
		c += probs[order[j]]
		if r < c {
			return order[j]
		}
	}
	return order[keep-1]
}
