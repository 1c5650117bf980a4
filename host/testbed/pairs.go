package testbed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Pair is one preference example.
type Pair struct {
	Prompt   []int
	Chosen   []int
	Rejected []int
	// ChosenReward and RejectedReward are r*(x, Chosen) and r*(x, Rejected).
	ChosenReward, RejectedReward float64
	// RewardGap is ChosenReward − RejectedReward; negative when a noisy
	// label preferred the lower reward.
	RewardGap float64
}

// Example is one unpaired (KTO-style) example.
type Example struct {
	Prompt     []int
	Completion []int
	Desirable  bool
	Reward     float64 // r*(x, Completion)
}

// Pairs returns SamplesPerPrompt labelled pairs for each train prompt, in
// prompt order.
//
// The two completions of a pair are drawn from the source policy π_src
// (Config.PairSource: ref itself, the uniform distribution over the
// completions, or the demonstration generator at noise PairNoise) by exact
// categorical sampling over the enumerated completions, conditioned on being
// distinct: (y1, y2) has probability π_src(y1)·π_src(y2)/(1 − Σ_y π_src(y)²)
// for y1 ≠ y2, which is what drawing two independent completions and
// redrawing both until they differ would give (identical completions carry
// no preference). The label makes y1 the chosen completion with probability
//
//	q = (1 − f)·σ(Δ/t) + f·(1 − σ(Δ/t)),  Δ = r*(y1) − r*(y2) + b·(|y1| − |y2|)/L
//
// with f = LabelFlip and b = LabelLengthBias: a Bradley–Terry label on the
// biased reward, flipped with probability f. t = 0 prefers the higher Δ and
// breaks ties with a fair coin. Each pair consumes three rng.Float64 draws
// whatever the knobs, so pairs drawn with the same rng differ between
// configurations only where the knobs act. Pair rewards are r*. A prompt
// whose source puts all its mass on one completion is an error naming the
// prompt.
func (t *Task) Pairs(ref Policy, rng *rand.Rand) ([]Pair, error) {
	if !t.cfg.Exact {
		return nil, ErrNotExact
	}
	src, name := ref, "reference"
	switch t.cfg.PairSource {
	case PairsUniform:
		src, name = uniformPolicy{n: t.n}, "uniform pair source"
	case PairsFromExpert:
		src, name = t.demo(t.cfg.PairNoise), "expert pair source"
	}
	return t.pairs(t.train, src, name, labeller{temp: t.cfg.LabelTemperature, flip: t.cfg.LabelFlip,
		lengthBias: t.cfg.LabelLengthBias}, rng)
}

// EvalPairs returns SamplesPerPrompt labelled pairs for each eval prompt
// for held-out implicit-reward accuracy, drawn from ref and labelled by
// Bradley–Terry on r* at temperature t as [Task.Pairs] would with the
// default pair source and no label flips or length bias: the held-out
// labels follow the true reward.
func (t *Task) EvalPairs(ref Policy, rng *rand.Rand) ([]Pair, error) {
	if !t.cfg.Exact {
		return nil, ErrNotExact
	}
	return t.pairs(t.eval, ref, "reference", labeller{temp: t.cfg.LabelTemperature}, rng)
}

// labeller is the label model of a pair set.
type labeller struct {
	temp, flip, lengthBias float64
}

// preferFirst returns q, the probability that y1 is chosen over y2, given
// their reward gap and lengths.
func (lb labeller) preferFirst(gap float64, l1, l2, maxLen int) float64 {
	if lb.lengthBias != 0 {
		gap += lb.lengthBias * float64(l1-l2) / float64(maxLen)
	}
	q := preferFirst(gap, lb.temp)
	if lb.flip != 0 {
		q = (1-lb.flip)*q + lb.flip*(1-q)
	}
	return q
}

func (t *Task) pairs(prompts [][]int, src Policy, name string, lb labeller, rng *rand.Rand) ([]Pair, error) {
	out := make([]Pair, 0, len(prompts)*t.cfg.SamplesPerPrompt)
	for _, x := range prompts {
		lp, err := t.logProbs(name, src, x)
		if err != nil {
			return nil, err
		}
		s := newPairSampler(lp)
		if s.firstTotal <= 0 {
			return nil, fmt.Errorf("testbed: %s for prompt %v puts all its mass on one completion: no distinct pair exists", name, x)
		}
		r := t.Rewards(x)
		for range t.cfg.SamplesPerPrompt {
			a, b := s.draw(rng.Float64(), rng.Float64())
			lenA, lenB := t.cfg.CompletionLen, t.cfg.CompletionLen
			if t.lens != nil {
				lenA, lenB = t.lens[a], t.lens[b]
			}
			if rng.Float64() >= lb.preferFirst(r[a]-r[b], lenA, lenB, t.cfg.CompletionLen) {
				a, b = b, a
			}
			out = append(out, Pair{
				Prompt:         slices.Clone(x),
				Chosen:         t.Completion(a),
				Rejected:       t.Completion(b),
				ChosenReward:   r[a],
				RejectedReward: r[b],
				RewardGap:      r[a] - r[b],
			})
		}
	}
	return out, nil
}

// uniformPolicy gives each of n completions probability 1/n.
type uniformPolicy struct{ n int }

func (u uniformPolicy) LogProbs([]int) ([]float64, error) {
	out := make([]float64, u.n)
	lp := -math.Log(float64(u.n))
	for k := range out {
		out[k] = lp
	}
	return out, nil
}

// preferFirst returns P(y1 ≻ y2) = σ(gap/temp), with temp = 0 meaning the
// limit: 1, 0, or 1/2 for a tie.
func preferFirst(gap, temp float64) float64 {
	if temp == 0 {
		switch {
		case gap > 0:
			return 1
		case gap < 0:
			return 0
		}
		return 0.5
	}
	return sigmoid(gap / temp)
}

// sigmoid is 1/(1+e^−z) without overflow for either sign of z.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// pairSampler draws ordered distinct pairs from one distribution p:
// y1 with probability p(y1)(T − p(y1))/Σ_a p(a)(T − p(a)), then y2 from p
// restricted to y ≠ y1 (T = Σ p).
type pairSampler struct {
	p, cum            []float64 // π and its running sum
	first, firstCum   []float64 // first-draw weights and their running sum
	total, firstTotal float64
}

func newPairSampler(logp []float64) *pairSampler {
	n := len(logp)
	s := &pairSampler{p: make([]float64, n), cum: make([]float64, n), first: make([]float64, n), firstCum: make([]float64, n)}
	c := 0.0
	for k, lp := range logp {
		s.p[k] = math.Exp(lp)
		c += s.p[k]
		s.cum[k] = c
	}
	s.total = c
	f := 0.0
	for k, pk := range s.p {
		s.first[k] = pk * (c - pk)
		f += s.first[k]
		s.firstCum[k] = f
	}
	s.firstTotal = f
	return s
}

// search returns the first k with cum[k] > v and weight w[k] > 0, falling
// back to the last positive-weight index other than skip.
func search(cum, w []float64, v float64, skip int) int {
	k := sort.SearchFloat64s(cum, math.Nextafter(v, math.Inf(1)))
	if k < len(cum) && w[k] > 0 && k != skip {
		return k
	}
	for k = len(w) - 1; k >= 0; k-- {
		if w[k] > 0 && k != skip {
			return k
		}
	}
	panic("testbed: pair sampler has no admissible completion")
}

// draw maps two uniforms on [0,1) to an ordered pair of distinct indices.
func (s *pairSampler) draw(u1, u2 float64) (int, int) {
	a := search(s.firstCum, s.first, u1*s.firstTotal, -1)
	before := 0.0
	if a > 0 {
		before = s.cum[a-1]
	}
	v := u2 * (s.total - s.p[a])
	if v >= before {
		v += s.p[a]
	}
	b := search(s.cum, s.p, v, a)
	return a, b
}

// Unpaired returns the KTO view of pairs: example 2i is pair i's chosen
// completion marked desirable and example 2i+1 its rejected one marked
// undesirable. Adjacent examples share a prompt, so callers that pair each
// example with its neighbour's completion (KTO's KL term) shuffle first.
func Unpaired(pairs []Pair) []Example {
	out := make([]Example, 0, 2*len(pairs))
	for _, p := range pairs {
		out = append(out,
			Example{Prompt: slices.Clone(p.Prompt), Completion: slices.Clone(p.Chosen), Desirable: true, Reward: p.ChosenReward},
			Example{Prompt: slices.Clone(p.Prompt), Completion: slices.Clone(p.Rejected), Desirable: false, Reward: p.RejectedReward})
	}
	return out
}
