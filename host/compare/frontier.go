package compare

import (
	"fmt"
	"math"

	"github.com/prefopt/prefopt/host/testbed"
)

// Bounds of the search for the β′ whose optimum π*_β′ is at a given KL from
// π_ref.
const (
	// frontierMinBeta is the smallest β′ tried: below it π*_β′ puts all but
	// exp(−Δr/β′) ≈ 0 of its mass on the best completions (Δr, the reward
	// gap to the next best, is ≥ 1e-3 on any task of interest), so the
	// frontier is flat beyond its KL.
	frontierMinBeta = 1e-6
	// frontierMaxBeta is the largest β′ tried: KL(π*_β′‖π_ref) ≈
	// Var(r*)/(2β′²) is below 1e-300 there for rewards of order 1e3.
	frontierMaxBeta = 1e150
	// frontierRelTol stops the bisection when hi/lo − 1 is below it: β′ is
	// then known to about 14 significant digits, the reward to rounding.
	frontierRelTol = 1e-13
	// frontierMaxIter bounds the bisection on log β′, whose range (~360
	// nats) halves each step: ~52 steps reach frontierRelTol.
	frontierMaxIter = 200
)

// FrontierReward returns the expected reward of the exact optimal frontier
// at KL(π‖π_ref) = kl: the reward of π*_β′ = π_ref·exp(r*/β′)/Z for the β′
// with mean KL(π*_β′‖π_ref) = kl over the task's eval prompts, found by
// bisection on log β′ (the KL decreases strictly in β′), and β′. No policy
// with that KL has a higher mean reward. kl ≤ 0 gives π_ref's reward (β′ =
// +Inf); kl beyond the frontier's largest KL gives the reward of its β′ → 0
// end (β′ = 0), the best reward π_ref's support allows. ref must be
// tabulated or cheap to score: every step evaluates it on every eval prompt.
func FrontierReward(task *testbed.Task, ref testbed.Policy, kl float64) (reward, beta float64, err error) {
	if math.IsNaN(kl) {
		return 0, 0, fmt.Errorf("compare: frontier reward: kl is NaN")
	}
	at := func(b float64) (testbed.FrontierPoint, error) {
		p, err := task.Frontier(ref, []float64{b})
		if err != nil {
			return testbed.FrontierPoint{}, fmt.Errorf("compare: frontier reward at β′ = %g: %w", b, err)
		}
		return p[0], nil
	}
	if kl <= 0 {
		p, err := at(FrontierLimit)
		return p.Reward, math.Inf(1), err
	}
	lo, hi := frontierMinBeta, frontierMaxBeta
	pLo, err := at(lo)
	if err != nil {
		return 0, 0, err
	}
	if pLo.KLRef <= kl {
		return pLo.Reward, 0, nil
	}
	pHi, err := at(hi)
	if err != nil {
		return 0, 0, err
	}
	if pHi.KLRef >= kl {
		return pHi.Reward, hi, nil
	}
	// Invariant: KL(lo) > kl > KL(hi).
	mid := pHi
	b := hi
	for range frontierMaxIter {
		if hi/lo-1 < frontierRelTol {
			break
		}
		b = math.Sqrt(lo) * math.Sqrt(hi) // geometric midpoint without overflow
		if mid, err = at(b); err != nil {
			return 0, 0, err
		}
		if mid.KLRef > kl {
			lo = b
		} else {
			hi = b
		}
	}
	return mid.Reward, b, nil
}

// FrontierShortfall is the frontier's expected reward at the policy's
// KL(π‖π_ref), minus the policy's expected reward: the reward it leaves on
// the table for the KL it spends. It is ≥ 0 up to rounding, and 0 for π_ref
// and for every π*_β′. See [FrontierReward].
func FrontierShortfall(task *testbed.Task, ref testbed.Policy, klRef, reward float64) (float64, error) {
	r, _, err := FrontierReward(task, ref, klRef)
	if err != nil {
		return 0, err
	}
	return r - reward, nil
}
