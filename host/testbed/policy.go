package testbed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Policy is a conditional distribution over the completions of an exact
// task.
type Policy interface {
	// LogProbs returns log π(y|prompt) in nats for every completion y in
	// canonical order (A^L values). −Inf marks a completion of probability
	// 0. The caller does not modify the returned slice.
	LogProbs(prompt []int) ([]float64, error)
}

// Sampler draws completions; it is what [Task.EstimateMC] needs from the
// policy being measured.
type Sampler interface {
	// Sample draws y ~ π(·|prompt) using rng only, and returns y with
	// log π(y|prompt).
	Sample(prompt []int, rng *rand.Rand) (completion []int, logp float64, err error)
}

// Scorer scores one completion; it is what [Task.EstimateMC] needs from the
// reference.
type Scorer interface {
	// LogProb returns log π(completion|prompt).
	LogProb(prompt, completion []int) (float64, error)
}

// TablePolicy is a Policy given by explicit log-prob tables, one per prompt.
// It also implements Sampler and Scorer. It is safe for concurrent reads
// once no more Set calls are made.
type TablePolicy struct {
	sp     space
	tables map[string][]float64
}

// NewTablePolicy returns an empty table over the alphabet^length
// completions of the given length. It panics if alphabet < 2, length < 1 or
// alphabet^length > MaxCompletions.
func NewTablePolicy(alphabet, length int) *TablePolicy {
	if alphabet < 2 || length < 1 {
		panic(fmt.Sprintf("testbed: NewTablePolicy: need alphabet ≥ 2 and length ≥ 1, got %d and %d", alphabet, length))
	}
	n, ok := power(alphabet, length, MaxCompletions)
	if !ok {
		panic(fmt.Sprintf("testbed: NewTablePolicy: %d^%d completions exceed %d", alphabet, length, MaxCompletions))
	}
	return &TablePolicy{sp: space{alphabet: alphabet, length: length, n: int(n)}, tables: map[string][]float64{}}
}

// NewTablePolicy returns an empty table over the completions of the task,
// in its canonical order. It panics if the task is not exact.
func (t *Task) NewTablePolicy() *TablePolicy {
	t.mustExact()
	return &TablePolicy{sp: t.sp, tables: map[string][]float64{}}
}

// Set stores a copy of logps as the table of prompt. It panics if logps
// does not hold one value per completion.
func (p *TablePolicy) Set(prompt []int, logps []float64) {
	if len(logps) != p.sp.n {
		panic(fmt.Sprintf("testbed: TablePolicy.Set: %d log-probs, want %d", len(logps), p.sp.n))
	}
	p.tables[key(prompt)] = slices.Clone(logps)
}

// LogProbs returns a copy of the table of prompt, or an error if there is
// none.
func (p *TablePolicy) LogProbs(prompt []int) ([]float64, error) {
	tab, err := p.table(prompt)
	if err != nil {
		return nil, err
	}
	return slices.Clone(tab), nil
}

func (p *TablePolicy) table(prompt []int) ([]float64, error) {
	tab, ok := p.tables[key(prompt)]
	if !ok {
		return nil, fmt.Errorf("testbed: no log-prob table for prompt %v", prompt)
	}
	return tab, nil
}

// LogProb returns the table entry of completion for prompt.
func (p *TablePolicy) LogProb(prompt, completion []int) (float64, error) {
	tab, err := p.table(prompt)
	if err != nil {
		return 0, err
	}
	k, err := p.sp.index(completion)
	if err != nil {
		return 0, err
	}
	return tab[k], nil
}

// Sample draws a completion by inverting the cumulative distribution of the
// table (one rng.Float64 per call).
func (p *TablePolicy) Sample(prompt []int, rng *rand.Rand) ([]int, float64, error) {
	tab, err := p.table(prompt)
	if err != nil {
		return nil, 0, err
	}
	u := rng.Float64()
	total := 0.0
	for _, lp := range tab {
		total += math.Exp(lp)
	}
	v, last := u*total, -1
	for k, lp := range tab {
		w := math.Exp(lp)
		if w == 0 {
			continue
		}
		last = k
		if v < w {
			return p.sp.completion(k), lp, nil
		}
		v -= w
	}
	if last < 0 {
		return nil, 0, fmt.Errorf("testbed: log-prob table for prompt %v has no positive entry", prompt)
	}
	return p.sp.completion(last), tab[last], nil
}

// Demo is the exact distribution of the demonstration generator: each
// completion position j independently copies x_{j mod P} with probability
// 1 − p, and with probability p is a uniform draw from the alphabet, so
//
//	log π_demo(y|x) = Σ_j log(1 − p + p/A) if y_j = x_{j mod P}, else log(p/A).
//
// With variable lengths the generator first ends the completion before
// position j < L with probability s (emitting EOS), so a completion of
// l symbols adds l·log(1 − s), plus log s when l < L.
//
// It is the reference a perfectly fitted supervised model would reach. It
// implements Policy (exact tasks only), Sampler and Scorer.
type Demo struct {
	t               *Task
	noise           float64
	logCopy, logOff float64
	logGo, logStop  float64 // log(1 − s), log s (variable lengths)
}

// Demo returns the demonstration generator of the task with p = DemoNoise
// and s = DemoStop.
func (t *Task) Demo() Demo { return t.demo(t.cfg.DemoNoise) }

// demo returns the generator with per-position noise p.
func (t *Task) demo(p float64) Demo {
	a, s := float64(t.cfg.Alphabet), t.cfg.DemoStop
	return Demo{t: t, noise: p, logCopy: math.Log(1 - p + p/a), logOff: math.Log(p / a),
		logGo: math.Log1p(-s), logStop: math.Log(s)}
}

// LogProbs returns log π_demo(y|prompt) for every completion in canonical
// order, or ErrNotExact.
func (d Demo) LogProbs(prompt []int) ([]float64, error) {
	if !d.t.cfg.Exact {
		return nil, ErrNotExact
	}
	if err := d.t.checkPrompt(prompt); err != nil {
		return nil, err
	}
	out := make([]float64, d.t.n)
	if d.t.cfg.VariableLength {
		d.t.sp.each(func(k int, y []int) { out[k] = d.logProb(prompt, y) })
		return out, nil
	}
	y := make([]int, d.t.cfg.CompletionLen)
	for k := range out {
		out[k] = d.logProb(prompt, y)
		next(y, d.t.cfg.Alphabet)
	}
	return out, nil
}

// LogProb returns log π_demo(completion|prompt).
func (d Demo) LogProb(prompt, completion []int) (float64, error) {
	if err := d.t.checkPrompt(prompt); err != nil {
		return 0, err
	}
	if err := d.t.checkCompletion(completion); err != nil {
		return 0, err
	}
	return d.logProb(prompt, completion), nil
}

func (d Demo) logProb(prompt, y []int) float64 {
	s := 0.0
	if d.t.cfg.VariableLength {
		l := len(y)
		if l > 0 && y[l-1] == d.t.sp.eos() {
			l--
			s += d.logStop
		}
		y = y[:l]
		s += float64(l) * d.logGo
	}
	for j, v := range y {
		if v == prompt[j%len(prompt)] {
			s += d.logCopy
		} else {
			s += d.logOff
		}
	}
	return s
}

// Sample draws a completion from the generator: per position one
// rng.Float64, plus one rng.IntN when the position is noised; with variable
// lengths, one more rng.Float64 before each position decides whether to
// stop.
func (d Demo) Sample(prompt []int, rng *rand.Rand) ([]int, float64, error) {
	if err := d.t.checkPrompt(prompt); err != nil {
		return nil, 0, err
	}
	y, lp := d.sample(prompt, rng)
	return y, lp, nil
}

func (d Demo) sample(prompt []int, rng *rand.Rand) ([]int, float64) {
	if d.t.cfg.VariableLength {
		return d.sampleVariable(prompt, rng)
	}
	y := make([]int, d.t.cfg.CompletionLen)
	for j := range y {
		if rng.Float64() < d.noise {
			y[j] = rng.IntN(d.t.cfg.Alphabet)
		} else {
			y[j] = prompt[j%len(prompt)]
		}
	}
	return y, d.logProb(prompt, y)
}

func (d Demo) sampleVariable(prompt []int, rng *rand.Rand) ([]int, float64) {
	y := make([]int, 0, d.t.cfg.CompletionLen)
	for j := range d.t.cfg.CompletionLen {
		if rng.Float64() < d.t.cfg.DemoStop {
			y = append(y, d.t.sp.eos())
			break
		}
		if rng.Float64() < d.noise {
			y = append(y, rng.IntN(d.t.cfg.Alphabet))
		} else {
			y = append(y, prompt[j%len(prompt)])
		}
	}
	return y, d.logProb(prompt, y)
}

func (t *Task) checkPrompt(prompt []int) error {
	if len(prompt) != t.cfg.PromptLen {
		return fmt.Errorf("testbed: prompt %v has %d tokens, want %d", prompt, len(prompt), t.cfg.PromptLen)
	}
	for j, v := range prompt {
		if v < 0 || v >= t.cfg.Alphabet {
			return fmt.Errorf("testbed: prompt %v: token %d at position %d outside [0, %d)", prompt, v, j, t.cfg.Alphabet)
		}
	}
	return nil
}

func (t *Task) checkCompletion(y []int) error {
	_, err := t.sp.symbols(y)
	return err
}
