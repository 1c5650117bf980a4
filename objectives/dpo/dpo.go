// Package dpo implements Direct Preference Optimization and every loss type
// of TRL's DPOTrainer, alone or mixed, with TRL's f-divergence scores,
// WPO weighting and LD-DPO length desensitisation.
//
// # Inputs
//
// For a pair i let π_c, π_r be the policy log-probs of the chosen and
// rejected completions and ref_c, ref_r the reference ones, all summed over
// completion tokens (ref = 0 when reference_free is set, and the reference
// inputs are then not read). L_c, L_r are the completion token counts
// (chosen_lengths, rejected_lengths), read only by the loss types, WPO and
// LD-DPO that need them and then required to be positive.
//
// LD-DPO (ld_alpha = α_ld set): the objective reads per-token log-probs
// instead of sums and aggregates each completion as TRL does,
//
//	π = Σ_{t ≤ s_i} π_t + α_ld·Σ_{t > s_i} π_t,   s_i = min(L_c,i, L_r,i)
//
// (the first s_i completion tokens are shared, the rest the verbose tail),
// for the policy and the reference alike. Gradients are then returned per
// token in Result.TokenGrads: ∂Loss/∂π_t = ∂Loss/∂π·(1 for t ≤ s_i, α_ld
// beyond) (+ the sft term, which reads every token with weight 1).
//
// # Scores
//
// With log-ratios r_c = π_c − ref_c and r_r = π_r − ref_r, the f-divergence
// (f_divergence_type) maps each to a score s = f(r):
//
//	reverse_kl:       s = r
//	forward_kl:       s = −exp(min(−r, 80))
//	js_divergence:    s = log σ(r)
//	alpha_divergence: s = exp(min((α−1)·r, 80))/(α−1),  α = f_alpha_divergence_coef ∈ (0, 1)
//
// and Δ = s_c − s_r. The clamp at 80 is TRL's for alpha_divergence in
// float32 and bfloat16 (TRL has no float64 entry); forward_kl is TRL's
// alpha_divergence at α = 0 and takes the same clamp, which TRL omits there
// (its scores overflow float32 beyond r < −88 anyway). Beyond the clamp the
// derivative is 0; at it, as with torch.clamp, it passes. Where TRL uses
// scores and where raw log-ratios is listed per loss type below, as in TRL.
//
// # Loss types (β = beta, ε = label_smoothing, x = βΔ)
//
//	sigmoid:      −(1−ε)·log σ(x) − ε·log σ(−x)   (conservative DPO; TRL ignores ε here)
//	hinge:        max(0, 1 − x)                     (gradient 0 at the kink)
//	ipo:          (s_c/L_c − s_r/L_r − 1/(2β))²
//	exo_pair:     σ(x)(log σ(x) − log(1−ε)) + σ(−x)(log σ(−x) − log ε),  ε > 0
//	nca_pair:     −log σ(βs_c) − ½log σ(−βs_c) − ½log σ(−βs_r)
//	robust:       (−(1−ε)·log σ(x) + ε·log σ(−x))/(1 − 2ε),  ε < ½
//	bco_pair:     −log σ(βs_c) − log σ(−βs_r)
//	sppo_hard:    (s_c − 1/(2β))² + (s_r + 1/(2β))²
//	aot:          smoothed sigmoid of β(sort(π_c−π_r)_j − sort(ref_c−ref_r)_j), raw log-probs
//	aot_unpaired: smoothed sigmoid of β(sort(r_c)_j − sort(r_r)_j), raw log-ratios
//	apo_zero:     1 − σ(βr_c) + σ(βr_r),  raw log-ratios
//	apo_down:     σ(βr_c) + 1 − σ(x),  r_c raw
//	discopop:     −log σ(x)·(1 − σ(x/τ)) + e^(−x)·σ(x/τ),  τ = discopop_tau
//	sft:          −(Σ_j Σ_t π_c,j,t)/(Σ_j L_c,j), the batch's pooled token mean
//	sigmoid_norm: −log σ(β(s_c/L_c − s_r/L_r))
//
// bco_pair is TRL's current stateless form; the BCO paper and older TRL
// subtract a running mean δ of the rewards, −log σ(βs_c − δ) −
// log σ(−(βs_r − δ)), which is state across batches and not offered here.
// discopop is computed as −log σ(x)·σ(−x/τ) + exp(−x − softplus(−x/τ)),
// equal to TRL's expression wherever that is finite; TRL's literal form
// returns NaN (∞·0) for x below about −88 in float32.
//
// Batch-coupled loss types: aot and aot_unpaired sort the batch, so entry j
// of Losses belongs to the j-th sorted position, and the gradient of position
// j flows to the pair sorted there (ties broken by index); sft is one pooled
// value, the same in every entry of Losses, whose gradient reaches every
// chosen completion.
//
// # Mixture, weighting and reduction
//
// With loss_type = [k_1 … k_K] and loss_weights = [w_1 … w_K] (default all 1)
//
//	Loss = Σ_k w_k · (1/N)·Σ_i ℓ_k,i·ω_i,   Losses[i] = Σ_k w_k·ℓ_k,i·ω_i
//
// where ω_i = 1 unless use_weighting is set (WPO): then ω_i =
// min(1, exp(wpo_c,i + wpo_r,i)) from policy_chosen_wpo_logps and
// policy_rejected_wpo_logps (each the mean over completion tokens of
// log π(y_t) − log Σ_v π(v)², computed by the host), as TRL's
// concatenated_forward forms policy_weights, a constant with no gradient,
// applied to every loss type including sft, as TRL does; aot and aot_unpaired
// refuse it. Gradients are returned for the policy inputs read; reference
// log-probs are constants.
//
// Metrics (TRL's): rewards/chosen = mean βr_c, rewards/rejected = mean βr_r
// (raw log-ratios, LD-aggregated under LD-DPO), rewards/margins,
// rewards/accuracies (strict), logps/chosen, logps/rejected (means of the
// policy log-probs the loss uses).
//
// References: Rafailov et al., arXiv:2305.18290 (DPO); Mitchell, cDPO note
// (sigmoid with ε); Zhao et al., arXiv:2305.10425 (hinge); Azar et al.,
// arXiv:2310.12036 (ipo); Ji et al., arXiv:2402.00856 (exo_pair); Chen et al.,
// arXiv:2402.05369 (nca_pair); Chowdhury et al., arXiv:2403.00409 (robust);
// Jung et al., arXiv:2404.04656 (bco_pair); Wu et al., arXiv:2405.00675
// (sppo_hard); Melnyk et al., arXiv:2406.05882 (aot); D'Oosterlinck et al.,
// arXiv:2408.06266 (apo); Chris Lu et al., arXiv:2406.08414 (discopop); Pang
// et al., arXiv:2404.19733 (RPO = sigmoid + sft); Wang et al.,
// arXiv:2309.16240 (f-divergences); Zhou et al., arXiv:2406.11827 (WPO);
// Liu et al., arXiv:2409.06411 (LD-DPO). Matches trl.DPOTrainer._compute_loss
// in trl/trainer/dpo_trainer.py at huggingface/trl commit
// f2cd57710ae345ea6428ae95363267fcf38a3dc8, except where stated above.
package dpo

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

// Loss types, with TRL's names.
const (
	Sigmoid     = "sigmoid"
	Hinge       = "hinge"
	IPO         = "ipo"
	ExoPair     = "exo_pair"
	NCAPair     = "nca_pair"
	Robust      = "robust"
	BCOPair     = "bco_pair"
	SPPOHard    = "sppo_hard"
	AOT         = "aot"
	AOTUnpaired = "aot_unpaired"
	APOZero     = "apo_zero"
	APODown     = "apo_down"
	DiscoPOP    = "discopop"
	SFT         = "sft"
	SigmoidNorm = "sigmoid_norm"
)

// LossTypes lists every loss type in TRL's order.
var LossTypes = []string{Sigmoid, Hinge, IPO, ExoPair, NCAPair, Robust, BCOPair, SPPOHard,
	AOT, AOTUnpaired, APOZero, APODown, DiscoPOP, SFT, SigmoidNorm}

// f-divergences, with TRL's names.
const (
	ReverseKL       = "reverse_kl"
	ForwardKL       = "forward_kl"
	JSDivergence    = "js_divergence"
	AlphaDivergence = "alpha_divergence"
)

// expClamp bounds the exponent of the forward_kl and alpha_divergence
// scores: TRL's clamp for float32 and bfloat16.
const expClamp = 80.0

// smoothed lists the loss types that read label_smoothing.
var smoothed = []string{Sigmoid, Robust, ExoPair, AOT, AOTUnpaired}

// Definition returns the DPO objective. Parameters, with TRL DPOConfig names
// and defaults: beta (β=0.1, > 0), loss_type (["sigmoid"]), loss_weights
// (all 1.0, same length as loss_type), label_smoothing (ε=0, [0, 0.5]),
// f_divergence_type (reverse_kl), f_alpha_divergence_coef (0.5),
// discopop_tau (0.05), use_weighting (false), ld_alpha (unset, [0, 1]),
// and prefopt's reference_free (false).
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "dpo",
			Version: "1.1.0",
			Doc: "Direct Preference Optimization with every trl.DPOTrainer loss type, mixed as Σ_k w_k·mean_i ℓ_k,i " +
				"(Rafailov et al. 2023, arXiv:2305.18290; trl dpo_trainer.py at f2cd577). Loss types: " +
				"sigmoid −log σ(βΔ) (ε-smoothed), hinge max(0,1−βΔ), ipo (s_c/L_c−s_r/L_r−1/(2β))², " +
				"exo_pair KL(softmax(βΔ)‖(1−ε,ε)), nca_pair, robust, bco_pair, sppo_hard, aot and aot_unpaired " +
				"(sorted over the batch), apo_zero, apo_down, discopop, sft (pooled chosen token NLL; RPO = " +
				"[sigmoid, sft]), sigmoid_norm. Δ = f(r_c) − f(r_r) for the f-divergence scores f; " +
				"Parameters: beta (β), loss_type, loss_weights (w), label_smoothing (ε), f_divergence_type, " +
				"f_alpha_divergence_coef (α), discopop_tau (τ), use_weighting (WPO weights), ld_alpha (LD-DPO token weight), " +
				"reference_free (ref = 0).",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "inverse temperature β of the implicit reward β·log(π/ref) (TRL DPOConfig default 0.1)"},
				{Name: "loss_type", Type: core.TypeStringList, Default: []string{Sigmoid}, Enum: LossTypes, MinItems: 1,
					Doc: "loss types to mix: " + strings.Join(LossTypes, ", ") + " (TRL default [sigmoid])"},
				{Name: "loss_weights", Type: core.TypeFloatList, Min: core.Bound(0), SameLengthAs: "loss_type",
					Doc: "weight of each loss type, as many as loss_type (TRL default: all 1.0)"},
				{Name: "label_smoothing", Type: core.TypeFloat, Default: 0.0, Min: core.Bound(0), Max: core.Bound(0.5),
					Doc: "ε for sigmoid (conservative DPO), robust (< 0.5), exo_pair (> 0, EXO suggests 1e-3), aot, aot_unpaired"},
				{Name: "f_divergence_type", Type: core.TypeString, Default: ReverseKL,
					Enum: []string{ReverseKL, ForwardKL, JSDivergence, AlphaDivergence},
					Doc:  "f-divergence whose f' scores the log-ratios (f-DPO, Wang et al. 2023; TRL default reverse_kl)"},
				{Name: "f_alpha_divergence_coef", Type: core.TypeFloat, Default: 0.5,
					Doc: "α of alpha_divergence, in (0, 1) (TRL default 0.5)"},
				{Name: "discopop_tau", Type: core.TypeFloat, Default: 0.05, Min: core.Bound(0), MinExclusive: true,
					Doc: "temperature τ of the discopop mixing σ(βΔ/τ) (TRL default 0.05)"},
				{Name: "use_weighting", Type: core.TypeBool, Default: false,
					Doc: "WPO: weigh each pair by min(1, exp(wpo_c + wpo_r)) from the host's policy_*_wpo_logps (TRL default false)"},
				{Name: "ld_alpha", Type: core.TypeFloat, Min: core.Bound(0), Max: core.Bound(1),
					Doc: "LD-DPO weight α of tokens beyond the shorter completion's length; reads per-token log-probs (TRL default unset)"},
				{Name: "reference_free", Type: core.TypeBool, Default: false,
					Doc: "treat the reference model as uniform: reference log-probs are not read"},
			},
		},
		New: newDPO,
	}
}

type dpo struct {
	beta, eps, tau float64
	lossTypes      []string
	weights        []float64
	fdiv           string
	alpha          float64
	referenceFree  bool
	weighting      bool
	ld             bool
	ldAlpha        float64
	inputs         []string
}

func newDPO(p core.Params) (core.Objective, error) {
	o := &dpo{
		beta:          p.Float("beta"),
		eps:           p.Float("label_smoothing"),
		tau:           p.Float("discopop_tau"),
		lossTypes:     p.StringList("loss_type"),
		fdiv:          p.String("f_divergence_type"),
		alpha:         p.Float("f_alpha_divergence_coef"),
		referenceFree: p.Bool("reference_free"),
		weighting:     p.Bool("use_weighting"),
	}
	if p.Has("loss_weights") {
		o.weights = p.FloatList("loss_weights")
	} else {
		o.weights = make([]float64, len(o.lossTypes))
		for k := range o.weights {
			o.weights[k] = 1
		}
	}
	if p.Has("ld_alpha") {
		o.ld, o.ldAlpha = true, p.Float("ld_alpha")
	}
	has := func(types ...string) bool {
		return slices.ContainsFunc(o.lossTypes, func(t string) bool { return slices.Contains(types, t) })
	}
	switch {
	case has(Robust) && o.eps >= 0.5:
		return nil, &core.ParamError{Param: "label_smoothing",
			Msg: fmt.Sprintf("must be < 0.5 with loss_type robust, got %v", o.eps)}
	case has(ExoPair) && o.eps == 0:
		return nil, &core.ParamError{Param: "label_smoothing",
			Msg: "must be > 0 with loss_type exo_pair (its target distribution is (1−ε, ε); the EXO paper suggests 1e-3), got 0"}
	case o.eps != 0 && !has(smoothed...):
		return nil, &core.ParamError{Param: "label_smoothing",
			Msg: fmt.Sprintf("must be 0 unless loss_type includes one of %s, which read it; got %v with loss_type %v",
				strings.Join(smoothed, ", "), o.eps, o.lossTypes)}
	case o.weighting && has(AOT, AOTUnpaired):
		return nil, &core.ParamError{Param: "use_weighting",
			Msg: "must be false with loss_type aot or aot_unpaired: they sort pairs, which would misalign per-pair weights"}
	case o.fdiv == AlphaDivergence && !(o.alpha > 0 && o.alpha < 1):
		return nil, &core.ParamError{Param: "f_alpha_divergence_coef",
			Msg: fmt.Sprintf("must be in (0, 1) with f_divergence_type alpha_divergence (the α-divergence is undefined "+
				"at 0 and 1, whose limits are forward_kl and reverse_kl), got %v", o.alpha)}
	}
	o.inputs = o.readInputs(has)
	return o, nil
}

// readInputs returns the inputs the configured objective reads, in
// canonical order.
func (o *dpo) readInputs(has func(...string) bool) []string {
	var in []string
	if o.ld {
		in = append(in, core.PolicyChosenTokenLogps, core.PolicyRejectedTokenLogps, core.ChosenLengths, core.RejectedLengths)
		if !o.referenceFree {
			in = append(in, core.ReferenceChosenTokenLogps, core.ReferenceRejectedTokenLogps)
		}
	} else {
		in = append(in, core.PolicyChosenLogps, core.PolicyRejectedLogps)
		if !o.referenceFree {
			in = append(in, core.ReferenceChosenLogps, core.ReferenceRejectedLogps)
		}
	}
	if has(SFT) {
		in = append(in, core.ChosenLengths)
	}
	if has(IPO, SigmoidNorm) {
		in = append(in, core.ChosenLengths, core.RejectedLengths)
	}
	if o.weighting {
		in = append(in, core.PolicyChosenWPOLogps, core.PolicyRejectedWPOLogps)
	}
	slices.SortFunc(in, func(a, b string) int {
		switch {
		case core.InputLess(a, b):
			return -1
		case core.InputLess(b, a):
			return 1
		}
		return 0
	})
	return slices.Compact(in)
}

func (o *dpo) Inputs() []string { return slices.Clone(o.inputs) }

// score returns the f-divergence score of a log-ratio r and its derivative.
func (o *dpo) score(r float64) (float64, float64) {
	switch o.fdiv {
	case ForwardKL:
		if -r > expClamp {
			return -math.Exp(expClamp), 0
		}
		e := math.Exp(-r)
		return -e, e
	case JSDivergence:
		return mathx.LogSigmoid(r), mathx.Sigmoid(-r)
	case AlphaDivergence:
		if math.Abs(o.alpha-1) < 1e-6 { // TRL's limit case, reverse KL
			return r, 1
		}
		t := (o.alpha - 1) * r
		if t > expClamp {
			return math.Exp(expClamp) / (o.alpha - 1), 0
		}
		e := math.Exp(t)
		return e / (o.alpha - 1), e
	}
	return r, 1
}

// pairs holds the per-pair quantities the loss types read.
type pairs struct {
	n          int
	pc, pr     []float64 // policy log-probs as the loss uses them (LD-aggregated)
	rc, rr     []float64 // reference log-probs (0 when reference-free)
	lc, lr     []float64 // completion lengths, when read
	sc, sr     []float64 // f-divergence scores of the log-ratios
	dsc, dsr   []float64 // their derivatives
	rawChosen  float64   // Σ over the batch of every chosen completion token's log-prob (sft)
	chosenToks float64   // Σ_j L_c,j (sft)
}

func (o *dpo) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(o.inputs); err != nil {
		return nil, err
	}
	for _, name := range []string{core.ChosenLengths, core.RejectedLengths} {
		if slices.Contains(o.inputs, name) {
			if err := b.RequirePositive(name); err != nil {
				return nil, err
			}
		}
	}
	d := o.pairs(b)
	n := d.n
	omega := o.wpoWeights(b, n)

	losses := make([]float64, n)
	gc, gr := make([]float64, n), make([]float64, n) // ∂Loss/∂pc, ∂Loss/∂pr
	var gSFT float64                                 // ∂Loss/∂(each chosen token), from sft
	for k, lt := range o.lossTypes {
		w := o.weights[k]
		switch lt {
		case AOT, AOTUnpaired:
			o.sorted(lt, d, w, losses, gc, gr)
		case SFT:
			s := -d.rawChosen / d.chosenToks
			for i := range n {
				losses[i] += w * s * omega[i]
				gSFT -= w * omega[i] / float64(n) / d.chosenToks
			}
		default:
			for i := range n {
				l, dc, dr := o.pairLoss(lt, d, i)
				losses[i] += w * l * omega[i]
				gc[i] += w * dc * omega[i] / float64(n)
				gr[i] += w * dr * omega[i] / float64(n)
			}
		}
	}

	rewC, rewR := make([]float64, n), make([]float64, n)
	for i := range n {
		rewC[i] = o.beta * (d.pc[i] - d.rc[i])
		rewR[i] = o.beta * (d.pr[i] - d.rr[i])
	}
	m := map[string]float64{}
	trl.Paired(m, rewC, rewR, d.pc, d.pr)
	r := &core.Result{Loss: mathx.Mean(losses), Losses: losses, Metrics: m}
	if o.ld {
		r.TokenGrads = map[string][][]float64{
			core.PolicyChosenTokenLogps:   o.tokenGrads(b.PolicyChosenTokenLogps, b, gc, gSFT),
			core.PolicyRejectedTokenLogps: o.tokenGrads(b.PolicyRejectedTokenLogps, b, gr, 0),
		}
		r.Grads = map[string][]float64{}
		return trl.Finish(r, core.PolicyChosenTokenLogps)
	}
	for i := range n {
		gc[i] += gSFT
	}
	r.Grads = map[string][]float64{core.PolicyChosenLogps: gc, core.PolicyRejectedLogps: gr}
	return trl.Finish(r, core.PolicyChosenLogps)
}

// pairs gathers the per-pair quantities of b.
func (o *dpo) pairs(b *core.Batch) *pairs {
	d := &pairs{}
	if o.ld {
		d.n = len(b.PolicyChosenTokenLogps)
	} else {
		d.n = len(b.PolicyChosenLogps)
	}
	n := d.n
	d.rc, d.rr = make([]float64, n), make([]float64, n)
	if slices.Contains(o.inputs, core.ChosenLengths) {
		d.lc = make([]float64, n)
		for i, v := range b.ChosenLengths {
			d.lc[i] = float64(v)
			d.chosenToks += float64(v)
		}
	}
	if slices.Contains(o.inputs, core.RejectedLengths) {
		d.lr = make([]float64, n)
		for i, v := range b.RejectedLengths {
			d.lr[i] = float64(v)
		}
	}
	if o.ld {
		d.pc, d.pr = make([]float64, n), make([]float64, n)
		for i := range n {
			s := min(b.ChosenLengths[i], b.RejectedLengths[i])
			d.pc[i] = o.aggregate(b.PolicyChosenTokenLogps[i], s)
			d.pr[i] = o.aggregate(b.PolicyRejectedTokenLogps[i], s)
			if !o.referenceFree {
				d.rc[i] = o.aggregate(b.ReferenceChosenTokenLogps[i], s)
				d.rr[i] = o.aggregate(b.ReferenceRejectedTokenLogps[i], s)
			}
			for _, v := range b.PolicyChosenTokenLogps[i] {
				d.rawChosen += v
			}
		}
	} else {
		d.pc, d.pr = b.PolicyChosenLogps, b.PolicyRejectedLogps
		if !o.referenceFree {
			d.rc, d.rr = b.ReferenceChosenLogps, b.ReferenceRejectedLogps
		}
		for _, v := range d.pc {
			d.rawChosen += v
		}
	}
	d.sc, d.sr, d.dsc, d.dsr = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		d.sc[i], d.dsc[i] = o.score(d.pc[i] - d.rc[i])
		d.sr[i], d.dsr[i] = o.score(d.pr[i] - d.rr[i])
	}
	return d
}

// aggregate returns Σ_{t<shared} x_t + α_ld·Σ_{t≥shared} x_t.
func (o *dpo) aggregate(tokens []float64, shared int64) float64 {
	var head, tail float64
	for t, v := range tokens {
		if int64(t) < shared {
			head += v
		} else {
			tail += v
		}
	}
	return head + o.ldAlpha*tail
}

// tokenGrads spreads the per-pair gradient g of an LD-aggregated log-prob
// over its tokens and adds the per-token sft gradient.
func (o *dpo) tokenGrads(rows [][]float64, b *core.Batch, g []float64, sft float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, row := range rows {
		shared := min(b.ChosenLengths[i], b.RejectedLengths[i])
		out[i] = make([]float64, len(row))
		for t := range row {
			if int64(t) < shared {
				out[i][t] = g[i] + sft
			} else {
				out[i][t] = o.ldAlpha*g[i] + sft
			}
		}
	}
	return out
}

// wpoWeights returns ω_i = min(1, exp(wpo_c + wpo_r)), or all ones.
func (o *dpo) wpoWeights(b *core.Batch, n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
		if o.weighting {
			w[i] = math.Min(1, math.Exp(b.PolicyChosenWPOLogps[i]+b.PolicyRejectedWPOLogps[i]))
		}
	}
	return w
}

// pairLoss returns the loss of pair i under a per-pair loss type and its
// derivatives with respect to the pair's policy log-probs pc and pr.
func (o *dpo) pairLoss(lt string, d *pairs, i int) (l, dc, dr float64) {
	beta := o.beta
	sc, sr, dsc, dsr := d.sc[i], d.sr[i], d.dsc[i], d.dsr[i]
	x := beta * (sc - sr)
	// fromDelta converts dℓ/dx at x = βΔ into dℓ/dpc and dℓ/dpr.
	fromDelta := func(l, dx float64) (float64, float64, float64) {
		return l, dx * beta * dsc, -dx * beta * dsr
	}
	switch lt {
	case Sigmoid:
		return fromDelta(trl.SmoothedSigmoidLoss(x, o.eps))
	case Hinge:
		if x < 1 {
			return fromDelta(1-x, -1)
		}
		return 0, 0, 0
	case IPO, SigmoidNorm:
		q := sc/d.lc[i] - sr/d.lr[i]
		var dq float64
		if lt == IPO {
			u := q - 1/(2*beta)
			l, dq = u*u, 2*u
		} else {
			l, dq = trl.SmoothedSigmoidLoss(beta*q, 0)
			dq *= beta
		}
		return l, dq * dsc / d.lc[i], -dq * dsr / d.lr[i]
	case ExoPair:
		lpw, lpl := math.Log1p(-o.eps), math.Log(o.eps)
		qw, ql := mathx.Sigmoid(x), mathx.Sigmoid(-x)
		l = qw*(mathx.LogSigmoid(x)-lpw) + ql*(mathx.LogSigmoid(-x)-lpl)
		return fromDelta(l, qw*ql*(x-lpw+lpl))
	case NCAPair:
		c, r := beta*sc, beta*sr
		l = -mathx.LogSigmoid(c) - 0.5*mathx.LogSigmoid(-c) - 0.5*mathx.LogSigmoid(-r)
		return l, beta * dsc * (-mathx.Sigmoid(-c) + 0.5*mathx.Sigmoid(c)), beta * dsr * 0.5 * mathx.Sigmoid(r)
	case Robust:
		l, dl := trl.SmoothedSigmoidLoss(x, 0)
		m, e := mathx.LogSigmoid(-x), mathx.Sigmoid(x)
		k := 1 / (1 - 2*o.eps)
		return fromDelta(k*((1-o.eps)*l+o.eps*m), k*((1-o.eps)*dl-o.eps*e))
	case BCOPair:
		c, r := beta*sc, beta*sr
		l = -mathx.LogSigmoid(c) - mathx.LogSigmoid(-r)
		return l, -beta * dsc * mathx.Sigmoid(-c), beta * dsr * mathx.Sigmoid(r)
	case SPPOHard:
		u, v := sc-0.5/beta, sr+0.5/beta
		return u*u + v*v, 2 * u * dsc, 2 * v * dsr
	case APOZero:
		c, r := beta*(d.pc[i]-d.rc[i]), beta*(d.pr[i]-d.rr[i])
		l = mathx.Sigmoid(-c) + mathx.Sigmoid(r)
		return l, -beta * dSigmoid(c), beta * dSigmoid(r)
	case APODown:
		c := beta * (d.pc[i] - d.rc[i])
		l = mathx.Sigmoid(c) + mathx.Sigmoid(-x)
		return l, beta*dSigmoid(c) - beta*dSigmoid(x)*dsc, beta * dSigmoid(x) * dsr
	case DiscoPOP:
		l, dx := discopop(x, o.tau)
		return fromDelta(l, dx)
	}
	panic("dpo: unhandled loss type " + lt)
}

// dSigmoid returns σ'(x) = σ(x)·σ(−x).
func dSigmoid(x float64) float64 { return mathx.Sigmoid(x) * mathx.Sigmoid(-x) }

// discopop returns the DiscoPOP loss −log σ(x)·(1−σ(x/τ)) + e^(−x)·σ(x/τ)
// and its derivative, with the exponential term as exp(−x − softplus(−x/τ))
// so that it neither overflows nor multiplies ∞ by 0.
func discopop(x, tau float64) (float64, float64) {
	sp := mathx.Softplus(-x)      // −log σ(x)
	m := mathx.Sigmoid(x / tau)   // σ(x/τ)
	mc := mathx.Sigmoid(-x / tau) // 1 − σ(x/τ)
	e := math.Exp(-x - mathx.Softplus(-x/tau))
	l := sp*mc + e
	dl := -mathx.Sigmoid(-x)*mc - sp*m*mc/tau + e*(-1+mc/tau)
	return l, dl
}

// sorted adds the aot or aot_unpaired loss, weighted by w, to losses and
// its gradient to gc and gr. Both sort ascending with ties broken by index;
// the loss at sorted position j goes to losses[j] and its gradient to the
// pairs sorted at j.
func (o *dpo) sorted(lt string, d *pairs, w float64, losses, gc, gr []float64) {
	n := d.n
	a, b := make([]float64, n), make([]float64, n)
	for i := range n {
		if lt == AOT {
			a[i], b[i] = d.pc[i]-d.pr[i], d.rc[i]-d.rr[i]
		} else {
			a[i], b[i] = d.pc[i]-d.rc[i], d.pr[i]-d.rr[i]
		}
	}
	pa, pb := argsort(a), argsort(b)
	for j := range n {
		l, dl := trl.SmoothedSigmoidLoss(o.beta*(a[pa[j]]-b[pb[j]]), o.eps)
		losses[j] += w * l
		g := w * o.beta * dl / float64(n)
		if lt == AOT {
			// a = pc − pr at the pair sorted at j; b is reference-only.
			gc[pa[j]] += g
			gr[pa[j]] -= g
		} else {
			gc[pa[j]] += g
			gr[pb[j]] -= g
		}
	}
}

// argsort returns the indices that sort xs ascending, ties by index.
func argsort(xs []float64) []int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int {
		switch {
		case xs[i] < xs[j]:
			return -1
		case xs[i] > xs[j]:
			return 1
		}
		return 0
	})
	return idx
}
