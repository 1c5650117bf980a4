package conformance

import (
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/prefopt/prefopt/core"
)

// labelMode chooses the labels of an unpaired batch.
type labelMode int

const (
	labelsMixed labelMode = iota
	labelsAllDesirable
	labelsAllUndesirable
)

// genOptions shapes a generated batch.
type genOptions struct {
	labels labelMode
	// klPositive makes every policy_kl_logps exceed its reference_kl_logps
	// (a positive KL estimate); otherwise every one falls short of it, so a
	// clamp at zero such as KTO's max(0, ·) is locally flat.
	klPositive bool
}

// RandomBatch returns a valid batch of n examples holding exactly the named
// inputs, drawn from rng: token counts in [1, 64] (prompts [1, 32]), summed
// log-probs equal to count × a per-token average in [−2.5, −0.1] (reference
// averages within a factor 0.8–1.25 of the policy's), mixed labels.
// Per-token log-probs split each summed log-prob over its tokens with
// weights in [0.5, 1.5], so they add up to it; WPO inputs lie in [−3, 0.5].
// Data columns are positive and finite: in [0.1, 5], except that a column "<stem>_chosen"
// named with "<stem>_rejected" exceeds it by [0.5, 5] (a scored pair's
// chosen side scores higher). Inputs not named stay nil. It panics if a
// name is not an input core knows.
func RandomBatch(rng *rand.Rand, inputs []string, n int) *core.Batch {
	return generate(rng, inputs, n, genOptions{labels: labelsMixed, klPositive: rng.IntN(2) == 0})
}

func generate(rng *rand.Rand, inputs []string, n int, opt genOptions) *core.Batch {
	uniform := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	counts := func(lo, hi int64) []int64 {
		c := make([]int64, n)
		for i := range c {
			c[i] = lo + rng.Int64N(hi-lo+1)
		}
		return c
	}
	// logps returns per-example summed log-probs lengths[i]·avg[i] with
	// avg[i] drawn from [lo, hi], and the averages.
	logps := func(lengths []int64, lo, hi float64) ([]float64, []float64) {
		s, a := make([]float64, n), make([]float64, n)
		for i := range s {
			a[i] = uniform(lo, hi)
			s[i] = float64(lengths[i]) * a[i]
		}
		return s, a
	}
	// reference scales policy per-token averages by factors in [lo, hi].
	reference := func(lengths []int64, avg []float64, lo, hi float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(lengths[i]) * avg[i] * uniform(lo, hi)
		}
		return s
	}
	full := &core.Batch{}
	// Paired inputs.
	full.ChosenLengths, full.RejectedLengths = counts(1, 64), counts(1, 64)
	var ac, ar []float64
	full.PolicyChosenLogps, ac = logps(full.ChosenLengths, -2.5, -0.1)
	full.PolicyRejectedLogps, ar = logps(full.RejectedLengths, -2.5, -0.1)
	full.ReferenceChosenLogps = reference(full.ChosenLengths, ac, 0.8, 1.25)
	full.ReferenceRejectedLogps = reference(full.RejectedLengths, ar, 0.8, 1.25)
	full.ChosenPromptLengths = counts(1, 32)
	full.PolicyChosenPromptLogps, _ = logps(full.ChosenPromptLengths, -3, -0.5)
	// Unpaired inputs.
	full.Lengths = counts(1, 64)
	var a []float64
	full.PolicyLogps, a = logps(full.Lengths, -2.5, -0.1)
	full.ReferenceLogps = reference(full.Lengths, a, 0.8, 1.25)
	full.Labels = make([]bool, n)
	for i := range full.Labels {
		switch opt.labels {
		case labelsMixed:
			full.Labels[i] = rng.IntN(2) == 0
		case labelsAllDesirable:
			full.Labels[i] = true
		}
	}
	// The KL pair scores completion i−1 under prompt i: its length is the
	// previous example's, and it is less likely than a matched completion.
	klLengths := make([]int64, n)
	for i := range klLengths {
		klLengths[i] = full.Lengths[(i+n-1)%n]
	}
	var akl []float64
	full.PolicyKLLogps, akl = logps(klLengths, -4, -1)
	if opt.klPositive {
		full.ReferenceKLLogps = reference(klLengths, akl, 1.1, 1.3)
	} else {
		full.ReferenceKLLogps = reference(klLengths, akl, 0.7, 0.9)
	}
	// Inputs added later draw after the others, so batches of the inputs
	// above do not change.
	split := func(sums []float64, lengths []int64) [][]float64 {
		out := make([][]float64, n)
		for i := range out {
			w, total := make([]float64, lengths[i]), 0.0
			for t := range w {
				w[t] = uniform(0.5, 1.5)
				total += w[t]
			}
			for t := range w {
				w[t] *= sums[i] / total
			}
			out[i] = w
		}
		return out
	}
	full.PolicyChosenTokenLogps = split(full.PolicyChosenLogps, full.ChosenLengths)
	full.PolicyRejectedTokenLogps = split(full.PolicyRejectedLogps, full.RejectedLengths)
	full.ReferenceChosenTokenLogps = split(full.ReferenceChosenLogps, full.ChosenLengths)
	full.ReferenceRejectedTokenLogps = split(full.ReferenceRejectedLogps, full.RejectedLengths)
	full.PolicyTokenLogps = split(full.PolicyLogps, full.Lengths)
	full.ReferenceTokenLogps = split(full.ReferenceLogps, full.Lengths)
	full.PolicyChosenWPOLogps, full.PolicyRejectedWPOLogps = make([]float64, n), make([]float64, n)
	for i := range n {
		full.PolicyChosenWPOLogps[i], full.PolicyRejectedWPOLogps[i] = uniform(-3, 0.5), uniform(-3, 0.5)
	}
	for _, name := range columnInputs(inputs) {
		if full.Has(name) {
			continue
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = uniform(0.1, 5)
		}
		full.SetColumn(name, v)
		if partner, ok := chosenPartner(name, inputs); ok {
			w := make([]float64, n)
			for i := range w {
				w[i] = v[i] + uniform(0.5, 5)
			}
			full.SetColumn(partner, w)
		}
	}
	return keep(full, inputs)
}

// columnInputs returns the data-column inputs among inputs, sorted.
func columnInputs(inputs []string) []string {
	var out []string
	for _, name := range inputs {
		if _, ok := core.ColumnOf(name); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// chosenPartner returns "column.<stem>_chosen" for a named
// "column.<stem>_rejected" when inputs name it too.
func chosenPartner(name string, inputs []string) (string, bool) {
	stem, ok := strings.CutSuffix(name, "_rejected")
	if !ok || !slices.Contains(inputs, stem+"_chosen") {
		return "", false
	}
	return stem + "_chosen", true
}

// keep returns a copy of b with only the named inputs.
func keep(b *core.Batch, inputs []string) *core.Batch {
	for _, name := range inputs {
		if _, ok := core.LookupField(name); !ok {
			panic("conformance: unknown input " + name)
		}
	}
	all := b.Clone()
	out := &core.Batch{}
	for _, f := range core.Fields {
		if !slices.Contains(inputs, f.Name) {
			continue
		}
		switch f.Kind {
		case core.Float:
			*out.Floats(f.Name) = *all.Floats(f.Name)
		case core.TokenFloat:
			*out.Tokens(f.Name) = *all.Tokens(f.Name)
		case core.Count:
			*out.Counts(f.Name) = *all.Counts(f.Name)
		case core.Bool:
			*out.Bools(f.Name) = *all.Bools(f.Name)
		}
	}
	for _, c := range all.Columns {
		if slices.Contains(inputs, c.Name) {
			out.SetColumn(c.Name, c.Values)
		}
	}
	return out
}

// unpairedObjective reports whether the first non-column input is unpaired.
func unpairedObjective(inputs []string) bool {
	for _, name := range inputs {
		if f, ok := core.LookupField(name); ok && !f.Column {
			return f.Layout == core.Unpaired
		}
	}
	return false
}

// extremeBatches returns valid batches at the edges of the domain: log-ratio
// margins of about ±3000 nats, per-token averages within 1e-7 of 0, token
// counts of 1 and 10000, KL estimates of about ±5000 nats, and score gaps of
// 1e-3 and 1e3 between chosen and rejected data columns (other columns
// cycle through 1e-3, 1 and 1e3).
func extremeBatches(inputs []string) map[string]*core.Batch {
	const long = 10000
	// Rows: (policy, length, reference) for chosen then rejected.
	type row struct {
		pc, rc float64
		lc     int64
		pr, rr float64
		lr     int64
	}
	build := func(rows []row, klSign float64) *core.Batch {
		b := &core.Batch{}
		for i, r := range rows {
			b.PolicyChosenLogps = append(b.PolicyChosenLogps, r.pc)
			b.ReferenceChosenLogps = append(b.ReferenceChosenLogps, r.rc)
			b.ChosenLengths = append(b.ChosenLengths, r.lc)
			b.PolicyRejectedLogps = append(b.PolicyRejectedLogps, r.pr)
			b.ReferenceRejectedLogps = append(b.ReferenceRejectedLogps, r.rr)
			b.RejectedLengths = append(b.RejectedLengths, r.lr)
			// Prompts of 1 and 10000 tokens.
			if i%2 == 0 {
				b.PolicyChosenPromptLogps = append(b.PolicyChosenPromptLogps, -1e-7)
				b.ChosenPromptLengths = append(b.ChosenPromptLengths, 1)
			} else {
				b.PolicyChosenPromptLogps = append(b.PolicyChosenPromptLogps, -20000)
				b.ChosenPromptLengths = append(b.ChosenPromptLengths, long)
			}
			// Unpaired view: chosen and rejected rows as separate examples.
			b.PolicyLogps = append(b.PolicyLogps, r.pc, r.pr)
			b.ReferenceLogps = append(b.ReferenceLogps, r.rc, r.rr)
			b.Lengths = append(b.Lengths, r.lc, r.lr)
			b.Labels = append(b.Labels, i%2 == 0, i%2 == 1)
		}
		for i := range b.PolicyLogps {
			b.PolicyKLLogps = append(b.PolicyKLLogps, -5000+klSign*2500)
			b.ReferenceKLLogps = append(b.ReferenceKLLogps, -5000-klSign*2500+float64(i))
		}
		// Per-token inputs spread each sum evenly; WPO logs alternate
		// between near 0 and −30; data columns alternate score gaps of 1e-3
		// and 1e3 (chosen over rejected), in the objective's layout.
		even := func(sums []float64, lengths []int64) [][]float64 {
			out := make([][]float64, len(sums))
			for i := range out {
				out[i] = make([]float64, lengths[i])
				for t := range out[i] {
					out[i][t] = sums[i] / float64(lengths[i])
				}
			}
			return out
		}
		b.PolicyChosenTokenLogps = even(b.PolicyChosenLogps, b.ChosenLengths)
		b.PolicyRejectedTokenLogps = even(b.PolicyRejectedLogps, b.RejectedLengths)
		b.ReferenceChosenTokenLogps = even(b.ReferenceChosenLogps, b.ChosenLengths)
		b.ReferenceRejectedTokenLogps = even(b.ReferenceRejectedLogps, b.RejectedLengths)
		b.PolicyTokenLogps = even(b.PolicyLogps, b.Lengths)
		b.ReferenceTokenLogps = even(b.ReferenceLogps, b.Lengths)
		for i := range rows {
			b.PolicyChosenWPOLogps = append(b.PolicyChosenWPOLogps, []float64{-1e-7, -30}[i%2])
			b.PolicyRejectedWPOLogps = append(b.PolicyRejectedWPOLogps, []float64{-30, -1e-7}[i%2])
		}
		n := len(rows)
		if unpairedObjective(inputs) {
			n = len(b.PolicyLogps)
		}
		for _, name := range columnInputs(inputs) {
			if b.Has(name) {
				continue
			}
			v := make([]float64, n)
			for i := range v {
				v[i] = []float64{1e-3, 1, 1e3}[i%3]
			}
			b.SetColumn(name, v)
			if partner, ok := chosenPartner(name, inputs); ok {
				w := make([]float64, n)
				for i := range w {
					w[i] = v[i] + []float64{1e-3, 1e3}[i%2]
				}
				b.SetColumn(partner, w)
			}
		}
		return keep(b, inputs)
	}
	margins := []row{
		{pc: -1, rc: -2, lc: 1, pr: -5000, rr: -2000, lr: long},   // h ≈ +3001
		{pc: -5000, rc: -2000, lc: long, pr: -1, rr: -2, lr: 1},   // h ≈ −3001
		{pc: -0.5, rc: -3000, lc: 1, pr: -4, rr: -1, lr: 1},       // h ≈ +2996
		{pc: -3000, rc: -0.5, lc: long, pr: -1, rr: -4, lr: long}, // h ≈ −3002
	}
	nearZero := []row{
		{pc: -1e-7, rc: -1e-7, lc: 1, pr: -1e-3, rr: -1e-3, lr: long},
		{pc: -1e-3, rc: -2e-3, lc: long, pr: -1e-7, rr: -3, lr: 1},
		{pc: -1e-7, rc: -2, lc: 1, pr: -25000, rr: -1e-3, lr: long},
		{pc: -20000, rc: -1e-7, lc: long, pr: -1e-7, rr: -1e-7, lr: 1},
	}
	return map[string]*core.Batch{
		"large_margins/kl_negative": build(margins, -1),
		"large_margins/kl_positive": build(margins, 1),
		"near_zero_averages":        build(nearZero, 1),
	}
}
