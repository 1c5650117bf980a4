package report

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/summary"
)

// toyTask is a one-prompt task with k completions: a reference
// distribution, rewards and the β of the optimum. Its exact metrics are
// computed here from the definitions, independently of the package, so the
// fixture's frontier, optimum and trajectories are mutually consistent.
type toyTask struct {
	ref, reward []float64 // π_ref(y) and r*(y)
	beta        float64
}

func newToyTask(rng *rand.Rand, k int, beta float64) toyTask {
	t := toyTask{ref: make([]float64, k), reward: make([]float64, k), beta: beta}
	z := 0.0
	for i := range t.ref {
		t.ref[i] = math.Exp(rng.NormFloat64())
		z += t.ref[i]
		t.reward[i] = 2 * rng.Float64()
	}
	for i := range t.ref {
		t.ref[i] /= z
	}
	return t
}

// tilt returns π(y) ∝ π_ref(y)·exp(lambda·r*(y) + noise(y)).
func (t toyTask) tilt(lambda float64, noise []float64) []float64 {
	p := make([]float64, len(t.ref))
	z := 0.0
	for i, r := range t.ref {
		e := lambda * t.reward[i]
		if noise != nil {
			e += noise[i]
		}
		p[i] = r * math.Exp(e)
		z += p[i]
	}
	for i := range p {
		p[i] /= z
	}
	return p
}

func kl(p, q []float64) float64 {
	s := 0.0
	for i := range p {
		if p[i] > 0 {
			s += p[i] * math.Log(p[i]/q[i])
		}
	}
	return s
}

// frontierReward is the expected reward of the frontier policy
// π_ref·exp(λ·r*)/Z whose KL to π_ref is target: KL grows with λ ≥ 0, so
// bisection on λ finds it (up to λ = 100, where r* ≤ 2 keeps exp finite and
// the tilt is all but the best completion).
func (t toyTask) frontierReward(target float64) float64 {
	lo, hi := 0.0, 100.0
	if target <= 0 {
		hi = 0 // π_ref itself
	}
	for range 200 {
		mid := (lo + hi) / 2
		if kl(t.tilt(mid, nil), t.ref) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	p := t.tilt((lo+hi)/2, nil)
	r := 0.0
	for i, v := range p {
		r += v * t.reward[i]
	}
	return r
}

// metrics returns the exact metrics of p under the summary's key names.
func (t toyTask) metrics(p []float64) map[string]float64 {
	opt := t.tilt(1/t.beta, nil)
	reward, entropy := 0.0, 0.0
	for i, v := range p {
		reward += v * t.reward[i]
		if v > 0 {
			entropy -= v * math.Log(v)
		}
	}
	klRef, klOpt := kl(p, t.ref), kl(p, opt)
	return map[string]float64{
		metric.FrontierShortfall: t.frontierReward(klRef) - reward,
		keyReward:                reward,
		keyKLRef:                 klRef,
		keyKLOpt:                 klOpt,
		keyGap:                   t.beta * klOpt,
		keyEntropy:               entropy,
		"regularized_objective":  reward - t.beta*klRef,
	}
}

// fixtureObjective describes one objective of the fixture: where its policy
// ends (tilt lambda, noise scale) and the scale of its loss.
type fixtureObjective struct {
	name, label  string
	lambda, walk float64
	loss0, loss1 float64
	// ratio: the objective's reward is β·log π/π_ref, so at step 0 (π =
	// π_ref) every held-out pair is a tie: accuracy 0, margin 0. unpaired:
	// KTO, which logs no pairwise accuracy and counts a pair as two
	// examples.
	ratio, unpaired bool
	// group, param and value: a member of a [sweep] (see summary.Objective).
	group, param string
	value        any
}

// fixtureObjectives has one label with markup, to test escaping.
var fixtureObjectives = []fixtureObjective{
	{"dpo", "DPO", 1.9, 0.15, 0.693, 0.45, true, false, "", "", nil},
	{"ipo", "IPO", 1.4, 0.10, 1.0, 0.30, true, false, "", "", nil},
	{"kto", "KTO", 2.5, 0.25, 0.50, 0.33, true, true, "", "", nil},
	{"orpo", "ORPO", 0.7, 0.40, 2.9, 2.2, false, false, "", "", nil},
	{"simpo", "SimPO <script>alert(1)</script>", 3.6, 0.30, 1.4, 0.7, false, false, "", "", nil},
}

// Training shape of the fixture: 32 steps, a log line every 4 steps and an
// evaluation every 8.
const (
	fixtureSteps     = 32
	fixtureLogEvery  = 4
	fixtureEvalEvery = 8
	fixtureBatch     = 32 // examples per step; KTO's are unpaired halves of pairs
)

// fixture returns a summary of five objectives on a toy task, with exact
// metrics, a frontier, training logs and evaluations; seeded, so the same
// on every call.
func fixture() *summary.Summary { return fixtureFor(7, fixtureObjectives) }

// fixtureFor is fixture with the given seed and objectives.
func fixtureFor(seed uint64, objs []fixtureObjective) *summary.Summary {
	rng := rand.New(rand.NewPCG(seed, 11))
	task := newToyTask(rng, 24, 0.5)
	s := &summary.Summary{
		Experiment:  "compare",
		Beta:        task.beta,
		Reference:   task.metrics(task.ref),
		Optimal:     task.metrics(task.tilt(1/task.beta, nil)),
		WallSeconds: 431.7,
	}
	s.Reference[keyEvalAcc] = 0
	s.Reference[keyImplicitAcc] = 0
	for _, b := range []float64{8, 4, 2, 1, 0.7, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05} {
		m := task.metrics(task.tilt(1/b, nil))
		s.Frontier = append(s.Frontier, summary.FrontierPoint{Beta: b, KLToReference: m[keyKLRef], ExpectedReward: m[keyReward]})
	}
	for _, fo := range objs {
		noise := make([]float64, len(task.ref))
		for i := range noise {
			noise[i] = fo.walk * rng.NormFloat64()
		}
		o := summary.Objective{Name: fo.name, Label: fo.label, Version: "1.0.0", Seed: seed,
			Params: map[string]any{"beta": task.beta}, Steps: fixtureSteps, WallSeconds: 40 + 20*rng.Float64(),
			Group: fo.group, SweepParam: fo.param, SweepValue: fo.value}
		if fo.param != "" {
			o.Params[fo.param] = fo.value
		}
		for step := 0; step <= fixtureSteps; step += fixtureEvalEvery {
			f := float64(step) / fixtureSteps
			scaled := make([]float64, len(noise))
			for i := range noise {
				scaled[i] = f * noise[i]
			}
			v := task.metrics(task.tilt(f*fo.lambda, scaled))
			v[keyEvalLoss] = fo.loss0 + (fo.loss1-fo.loss0)*f + 0.02*rng.NormFloat64()
			v[keyEvalAcc] = math.Min(1, 0.8*math.Sqrt(f)+0.05*rng.Float64())
			v[metric.EvalPrefix+metric.RewardsMargins] = f * fo.lambda
			if !fo.ratio {
				v[keyEvalAcc] = math.Min(1, v[keyEvalAcc]+0.3)
				v[metric.EvalPrefix+metric.RewardsMargins] += 0.1
			} else if step == 0 {
				v[keyEvalAcc] = 0 // every pair a tie
			}
			if fo.unpaired {
				delete(v, keyEvalAcc)
			}
			v[metric.EvalPrefix+metric.LogpsChosen] = -20 + f
			v[metric.EvalPrefix+metric.LogpsRejected] = -20 - 4*f
			v[metric.ExamplesSeen] = fixtureExamples(fo, step)
			o.History = append(o.History, summary.Point{Step: step, Values: v})
		}
		for step := fixtureLogEvery; step <= fixtureSteps; step += fixtureLogEvery {
			f := float64(step) / fixtureSteps
			o.Train = append(o.Train, summary.Point{Step: step, Values: map[string]float64{
				keyLoss:               fo.loss0 + (fo.loss1-fo.loss0)*math.Sqrt(f) + 0.05*rng.NormFloat64(),
				"grad_norm":           1 + rng.Float64(),
				"learning_rate":       1e-3,
				metric.ExamplesSeen:   fixtureExamples(fo, step),
				metric.Epoch:          f, // one epoch in fixtureSteps; KTO's steps are twice the examples
				metric.LogpsChosen:    -20 + 1.5*f,
				metric.LogpsRejected:  -20 - 5*f,
				metric.RewardsMargins: f * fo.lambda,
			}})
			if !fo.unpaired {
				o.Train[len(o.Train)-1].Values[metric.RewardsAccuracies] = 0.5 + 0.4*f
			}
		}
		o.Final = map[string]float64{}
		for k, v := range o.History[len(o.History)-1].Values {
			o.Final[k] = v
		}
		o.Final[keyImplicitAcc] = 0.5 + 0.4*rng.Float64()
		o.Final[metric.TrainLoss] = o.Train[len(o.Train)-1].Values[keyLoss]
		s.Objectives = append(s.Objectives, o)
	}
	return s
}

// fixtureExamples is the examples_seen after step steps of fo.
func fixtureExamples(fo fixtureObjective, step int) float64 {
	if fo.unpaired {
		return float64(2 * fixtureBatch * step)
	}
	return float64(fixtureBatch * step)
}

// trainingOnly returns a copy of s as a run on data files without a
// held-out split records it: no exact metrics and no evaluations, only the
// training log lines and the last training loss.
func trainingOnly(s *summary.Summary) *summary.Summary {
	c := *withoutExact(s)
	objs := c.Objectives
	c.Objectives = nil
	for _, o := range objs {
		o.History = nil
		o.Final = map[string]float64{metric.TrainLoss: o.Final[metric.TrainLoss]}
		c.Objectives = append(c.Objectives, o)
	}
	return &c
}

// withoutExact returns a copy of s as a run on data files records it: no β,
// optimum, frontier or exact metrics.
func withoutExact(s *summary.Summary) *summary.Summary {
	exact := []string{keyReward, keyKLRef, keyKLOpt, keyGap, keyEntropy, "regularized_objective", metric.FrontierShortfall}
	strip := func(m map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range m {
			out[k] = v
		}
		for _, k := range exact {
			delete(out, k)
		}
		return out
	}
	c := *s
	c.Beta, c.Optimal, c.Frontier, c.Reference = 0, nil, nil, map[string]float64{}
	c.Objectives = nil
	for _, o := range s.Objectives {
		o.Final = strip(o.Final)
		delete(o.Final, keyImplicitAcc)
		hist := make([]summary.Point, len(o.History))
		for i, h := range o.History {
			hist[i] = summary.Point{Step: h.Step, Values: strip(h.Values)}
		}
		o.History = hist
		c.Objectives = append(c.Objectives, o)
	}
	return &c
}

// multiSeedFixture returns the fixture of objs trained with each seed, as
// compare writes it: objectives seed by seed, Reference, Optimal and
// Frontier of the first seed's task, and statistics over the seeds.
func multiSeedFixture(objs []fixtureObjective, seeds ...uint64) *summary.Summary {
	var out *summary.Summary
	refs := map[string][]float64{}
	opts := map[string][]float64{}
	for _, seed := range seeds {
		s := fixtureFor(seed, objs)
		if out == nil {
			first := *s
			out = &first
			out.Objectives = nil
			out.Seeds = seeds
		}
		out.Objectives = append(out.Objectives, s.Objectives...)
		for k, v := range s.Reference {
			refs[k] = append(refs[k], v)
		}
		for k, v := range s.Optimal {
			opts[k] = append(opts[k], v)
		}
	}
	stats := func(m map[string][]float64) map[string]summary.Stat {
		out := map[string]summary.Stat{}
		for k, v := range m {
			out[k] = summary.NewStat(v)
		}
		return out
	}
	out.ReferenceStats, out.OptimalStats = stats(refs), stats(opts)
	for _, fo := range objs {
		finals := map[string][]float64{}
		for _, o := range out.Objectives {
			if o.Label == fo.label {
				for k, v := range o.Final {
					finals[k] = append(finals[k], v)
				}
			}
		}
		out.Aggregates = append(out.Aggregates, summary.Aggregate{Label: fo.label, Name: fo.name, Group: fo.group,
			SweepParam: fo.param, SweepValue: fo.value, Metrics: stats(finals)})
	}
	return out
}

// sweepObjectives are two swept objectives, DPO over β and IPO over τ, with
// KTO unswept: a larger β keeps the policy closer to π_ref (a smaller tilt).
func sweepObjectives() []fixtureObjective {
	objs := []fixtureObjective{}
	for _, b := range []float64{0.05, 0.1, 0.2, 0.5, 1} {
		objs = append(objs, fixtureObjective{"dpo", fmt.Sprintf("dpo/beta=%g", b), math.Min(4, 0.3/b), 0.1,
			0.693, 0.45, true, false, "dpo", "beta", b})
	}
	for _, tau := range []float64{0.1, 0.3, 1} {
		objs = append(objs, fixtureObjective{"ipo", fmt.Sprintf("ipo/tau=%g", tau), 0.5 / tau, 0.2,
			1.0, 0.3, true, false, "ipo", "tau", tau})
	}
	return append(objs, fixtureObjectives[2])
}
