package testbed

import (
	"fmt"
	"math"
)

// Metrics are exact quantities of one policy π for one prompt x (or their
// means over prompts), in nats and reward units, at the task's β.
type Metrics struct {
	Reward  float64 // E_π[r*]
	KLRef   float64 // KL(π‖π_ref); +Inf if π puts mass where π_ref has none
	Entropy float64 // H(π) = −Σ π log π
	LogZ    float64 // log Z_β(x) = log Σ_y π_ref(y|x)·exp(r*(x,y)/β)
	KLOpt   float64 // KL(π‖π*_β), computed from π and π*_β directly
	J       float64 // J_β(π) = E_π[r*] − β·KL(π‖π_ref)
	Gap     float64 // β·log Z_β − J_β(π); equals β·KL(π‖π*_β) up to rounding
	Length  float64 // E_π[|y|], symbols before EOS; L at fixed length. Set by Task.EvaluatePrompt, not Exact
}

// Exact returns the Metrics of the distribution logp against the reference
// refLogp, with rewards r*(y) and KL weight beta, all indexed alike. Both
// distributions must already be normalised. Every sum runs over completions
// of positive probability only, and log Z is a log-sum-exp, so large r/β does
// not overflow. It panics if the lengths differ.
func Exact(logp, refLogp, rewards []float64, beta float64) Metrics {
	if len(refLogp) != len(logp) || len(rewards) != len(logp) {
		panic(fmt.Sprintf("testbed: Exact: lengths %d, %d, %d differ", len(logp), len(refLogp), len(rewards)))
	}
	logZ := logZ(refLogp, rewards, beta)
	var m Metrics
	m.LogZ = logZ
	for k, lp := range logp {
		p := math.Exp(lp)
		if p == 0 {
			continue
		}
		lr := refLogp[k]
		m.Reward += p * rewards[k]
		m.Entropy -= p * lp
		if math.IsInf(lr, -1) {
			m.KLRef, m.KLOpt = math.Inf(1), math.Inf(1)
			continue
		}
		m.KLRef += p * (lp - lr)
		m.KLOpt += p * (lp - (lr + rewards[k]/beta - logZ))
	}
	m.J = m.Reward - beta*m.KLRef
	m.Gap = beta*logZ - m.J
	return m
}

// logZ returns log Σ_k exp(refLogp_k + rewards_k/beta) over k with
// refLogp_k > −Inf.
func logZ(refLogp, rewards []float64, beta float64) float64 {
	m := math.Inf(-1)
	for k, lr := range refLogp {
		if !math.IsInf(lr, -1) {
			m = math.Max(m, lr+rewards[k]/beta)
		}
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for k, lr := range refLogp {
		if !math.IsInf(lr, -1) {
			s += math.Exp(lr + rewards[k]/beta - m)
		}
	}
	return m + math.Log(s)
}

// logSumExp returns log Σ exp(x_k), −Inf for an empty or all −Inf x.
func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	if math.IsInf(m, 0) {
		return m
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// logProbs fetches and checks the distribution of one prompt: A^L finite or
// −Inf values whose probabilities sum to 1 within NormTolerance. It returns
// a renormalised copy.
func (t *Task) logProbs(who string, p Policy, prompt []int) ([]float64, error) {
	if !t.cfg.Exact {
		return nil, ErrNotExact
	}
	lp, err := p.LogProbs(prompt)
	if err != nil {
		return nil, fmt.Errorf("testbed: %s log-probs for prompt %v: %w", who, prompt, err)
	}
	if len(lp) != t.n {
		return nil, fmt.Errorf("testbed: %s log-probs for prompt %v: got %d values, want %d", who, prompt, len(lp), t.n)
	}
	sum := 0.0
	for k, v := range lp {
		if math.IsNaN(v) || math.IsInf(v, 1) {
			return nil, fmt.Errorf("testbed: %s log-prob of completion %d %v for prompt %v is %g", who, k, t.Completion(k), prompt, v)
		}
		sum += math.Exp(v)
	}
	if !(math.Abs(sum-1) <= t.cfg.NormTolerance) {
		return nil, fmt.Errorf("testbed: %s probabilities for prompt %v sum to %.17g, want 1 within %g", who, prompt, sum, t.cfg.NormTolerance)
	}
	out := make([]float64, len(lp))
	z := logSumExp(lp)
	for k, v := range lp {
		out[k] = v - z
	}
	return out, nil
}

// EvaluatePrompt returns the exact Metrics of pi against ref for one prompt
// at the task's β. Either policy failing the normalisation check (see
// Config.NormTolerance) is an error naming the prompt.
func (t *Task) EvaluatePrompt(prompt []int, pi, ref Policy) (Metrics, error) {
	if err := t.checkPrompt(prompt); err != nil {
		return Metrics{}, err
	}
	lp, err := t.logProbs("policy", pi, prompt)
	if err != nil {
		return Metrics{}, err
	}
	lr, err := t.logProbs("reference", ref, prompt)
	if err != nil {
		return Metrics{}, err
	}
	m := Exact(lp, lr, t.Rewards(prompt), t.cfg.Beta)
	if !t.cfg.VariableLength {
		m.Length = float64(t.cfg.CompletionLen)
		return m, nil
	}
	for k, l := range t.lens {
		m.Length += math.Exp(lp[k]) * float64(l)
	}
	return m, nil
}

// Report is the exact evaluation of a policy over the eval prompts.
type Report struct {
	Beta      float64
	Prompts   [][]int   // the eval prompts
	PerPrompt []Metrics // indexed like Prompts
	Mean      Metrics   // arithmetic mean of PerPrompt, field by field
}

// Evaluate returns the exact Metrics of pi against ref on every eval prompt
// and their mean. Callers that evaluate often should pass ref through
// [Task.Tabulate] once.
func (t *Task) Evaluate(pi, ref Policy) (Report, error) {
	if !t.cfg.Exact {
		return Report{}, ErrNotExact
	}
	rep := Report{Beta: t.cfg.Beta, Prompts: t.EvalPrompts(), PerPrompt: make([]Metrics, len(t.eval))}
	for i, x := range t.eval {
		m, err := t.EvaluatePrompt(x, pi, ref)
		if err != nil {
			return Report{}, err
		}
		rep.PerPrompt[i] = m
	}
	rep.Mean = meanMetrics(rep.PerPrompt)
	return rep, nil
}

func meanMetrics(ms []Metrics) Metrics {
	var s Metrics
	for _, m := range ms {
		s.Reward += m.Reward
		s.KLRef += m.KLRef
		s.Entropy += m.Entropy
		s.LogZ += m.LogZ
		s.KLOpt += m.KLOpt
		s.J += m.J
		s.Gap += m.Gap
		s.Length += m.Length
	}
	n := float64(len(ms))
	return Metrics{s.Reward / n, s.KLRef / n, s.Entropy / n, s.LogZ / n, s.KLOpt / n, s.J / n, s.Gap / n, s.Length / n}
}

// Tabulate returns a TablePolicy holding p's checked and renormalised
// log-probs for every train and eval prompt.
func (t *Task) Tabulate(p Policy) (*TablePolicy, error) {
	if !t.cfg.Exact {
		return nil, ErrNotExact
	}
	tab := t.NewTablePolicy()
	for _, x := range t.allPrompts() {
		lp, err := t.logProbs("policy", p, x)
		if err != nil {
			return nil, err
		}
		tab.tables[key(x)] = lp
	}
	return tab, nil
}

func (t *Task) allPrompts() [][]int {
	return append(append([][]int(nil), t.train...), t.eval...)
}

// Optimal returns π*_β(y|x) = π_ref(y|x)·exp(r*(x,y)/β)/Z_β(x) as a table
// over every train and eval prompt. It reports an error if beta is not
// finite and > 0 or ref fails the normalisation check.
func (t *Task) Optimal(ref Policy, beta float64) (*TablePolicy, error) {
	if !(beta > 0) || math.IsInf(beta, 0) {
		return nil, fmt.Errorf("testbed: Optimal: beta must be finite and > 0, got %g", beta)
	}
	if !t.cfg.Exact {
		return nil, ErrNotExact
	}
	tab := t.NewTablePolicy()
	for _, x := range t.allPrompts() {
		lr, err := t.logProbs("reference", ref, x)
		if err != nil {
			return nil, err
		}
		tab.tables[key(x)] = optimal(lr, t.Rewards(x), beta)
	}
	return tab, nil
}

// optimal returns log π*_β for one prompt.
func optimal(refLogp, rewards []float64, beta float64) []float64 {
	lz := logZ(refLogp, rewards, beta)
	out := make([]float64, len(refLogp))
	for k, lr := range refLogp {
		if math.IsInf(lr, -1) {
			out[k] = lr
		} else {
			out[k] = lr + rewards[k]/beta - lz
		}
	}
	return out
}

// FrontierPoint is one point of the exact reward–KL frontier, averaged over
// the eval prompts.
type FrontierPoint struct {
	Beta   float64 // the β′ of π*_β′
	KLRef  float64 // mean KL(π*_β′‖π_ref)
	Reward float64 // mean E_{π*_β′}[r*]
}

// Frontier returns, for each β′ in betas (in the given order), the mean
// over eval prompts of (KL(π*_β′‖π_ref), E_{π*_β′}[r*]): no policy reaching
// a KL from π_ref has a higher expected reward. As β′ decreases both
// coordinates increase. Every β′ must be finite and > 0.
func (t *Task) Frontier(ref Policy, betas []float64) ([]FrontierPoint, error) {
	for i, b := range betas {
		if !(b > 0) || math.IsInf(b, 0) {
			return nil, fmt.Errorf("testbed: Frontier: betas:%d must be finite and > 0, got %g", i, b)
		}
	}
	if !t.cfg.Exact {
		return nil, ErrNotExact
	}
	out := make([]FrontierPoint, len(betas))
	for i, b := range betas {
		out[i].Beta = b
	}
	for _, x := range t.eval {
		lr, err := t.logProbs("reference", ref, x)
		if err != nil {
			return nil, err
		}
		r := t.Rewards(x)
		for i, b := range betas {
			m := Exact(optimal(lr, r, b), lr, r, b)
			out[i].KLRef += m.KLRef / float64(len(t.eval))
			out[i].Reward += m.Reward / float64(len(t.eval))
		}
	}
	return out, nil
}
