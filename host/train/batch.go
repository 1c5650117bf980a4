package train

import (
	"fmt"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
)

// layout describes what one objective asks of the model each step.
type layout struct {
	paired    bool
	reference bool // reads reference log-probs
	prompt    bool // reads the chosen prompt's log-probs (paired)
	kl        bool // reads KL-pair log-probs (unpaired)
	inputs    []string
}

func layoutOf(inputs []string) (layout, error) {
	l := layout{inputs: inputs}
	seen := map[core.Layout]bool{}
	for _, name := range inputs {
		f, ok := core.LookupField(name)
		// Per-token, WPO and data-column inputs are not computed here yet.
		if !ok || f.Kind == core.TokenFloat || f.Column || name == core.PolicyChosenWPOLogps || name == core.PolicyRejectedWPOLogps {
			return l, fmt.Errorf("train: objective reads input %q, which this host cannot provide", name)
		}
		seen[f.Layout] = true
		l.reference = l.reference || f.Reference
		l.prompt = l.prompt || name == core.PolicyChosenPromptLogps || name == core.ChosenPromptLengths
		l.kl = l.kl || name == core.PolicyKLLogps || name == core.ReferenceKLLogps
	}
	switch {
	case seen[core.Paired] && seen[core.Unpaired]:
		return l, fmt.Errorf("train: objective reads both paired and unpaired inputs (%v)", inputs)
	case !seen[core.Paired] && !seen[core.Unpaired]:
		return l, fmt.Errorf("train: objective reads no per-example inputs (%v)", inputs)
	}
	l.paired = seen[core.Paired]
	return l, nil
}

// outputs is the number of model outputs a batch of n examples needs.
func (l layout) outputs(n int) int {
	switch {
	case l.paired && l.prompt:
		return 3 * n
	case l.paired:
		return 2 * n
	case l.kl:
		return 2 * n
	}
	return n
}

// completionSeq scores the completion of r. The first token of a row has
// no prediction, so a row without prompt tokens scores from position 1.
func completionSeq(r data.Row) model.Seq {
	return model.Seq{Tokens: r.Tokens, From: max(1, r.PromptLen), To: len(r.Tokens)}
}

// promptSeq scores the prompt tokens of r that have a prediction.
func promptSeq(r data.Row) model.Seq {
	return model.Seq{Tokens: r.Tokens, From: 1, To: max(1, r.PromptLen)}
}

func seqLen(s model.Seq) int64 { return int64(s.To - s.From) }

// modelBatch turns sequences into a model batch with output i = score of
// seqs[i], one row per distinct sequence start.
func modelBatch(rows [][]int, spans []model.Seq, rowOf []int) *model.Batch {
	b := &model.Batch{Rows: rows}
	for i, s := range spans {
		b.Spans = append(b.Spans, model.Span{Out: i, Row: rowOf[i], From: s.From, To: s.To})
	}
	return b
}

// pairedStep assembles the model batch of pairs: rows 0..n−1 chosen,
// n..2n−1 rejected; outputs chosen completions, rejected completions and,
// if asked, chosen prompts.
func pairedStep(set *data.PairedSet, l layout) (*model.Batch, []model.Seq) {
	n := set.Len()
	rows := make([][]int, 0, 2*n)
	var seqs []model.Seq
	var rowOf []int
	for i, r := range set.Chosen {
		rows = append(rows, r.Tokens)
		seqs, rowOf = append(seqs, completionSeq(r)), append(rowOf, i)
	}
	for i, r := range set.Rejected {
		rows = append(rows, r.Tokens)
		seqs, rowOf = append(seqs, completionSeq(r)), append(rowOf, n+i)
	}
	if l.prompt {
		for i, r := range set.Chosen {
			seqs, rowOf = append(seqs, promptSeq(r)), append(rowOf, i)
		}
	}
	return modelBatch(rows, seqs, rowOf), seqs
}

// unpairedStep assembles rows 0..n−1 examples and, if asked, n..2n−1 the
// KL rows; outputs follow the rows.
func unpairedStep(rows []data.Row, klRows []data.Row) (*model.Batch, []model.Seq) {
	var toks [][]int
	var seqs []model.Seq
	var rowOf []int
	for _, r := range append(append([]data.Row(nil), rows...), klRows...) {
		rowOf = append(rowOf, len(toks))
		toks = append(toks, r.Tokens)
		seqs = append(seqs, completionSeq(r))
	}
	return modelBatch(toks, seqs, rowOf), seqs
}

// pairedBatch builds the objective's batch from model outputs out (in the
// order of pairedStep) and reference log-probs.
func pairedBatch(l layout, n int, seqs []model.Seq, out []float64, refC, refR []float64) *core.Batch {
	b := &core.Batch{
		PolicyChosenLogps:   out[:n],
		PolicyRejectedLogps: out[n : 2*n],
		ChosenLengths:       make([]int64, n),
		RejectedLengths:     make([]int64, n),
	}
	for i := range n {
		b.ChosenLengths[i] = seqLen(seqs[i])
		b.RejectedLengths[i] = seqLen(seqs[n+i])
	}
	if l.reference {
		b.ReferenceChosenLogps, b.ReferenceRejectedLogps = refC, refR
	}
	if l.prompt {
		b.PolicyChosenPromptLogps = out[2*n : 3*n]
		b.ChosenPromptLengths = make([]int64, n)
		for i := range n {
			b.ChosenPromptLengths[i] = seqLen(seqs[2*n+i])
		}
	}
	return b
}

// unpairedBatch builds the objective's batch for unpaired examples.
func unpairedBatch(l layout, seqs []model.Seq, out []float64, labels []bool, ref, refKL []float64) *core.Batch {
	n := len(labels)
	b := &core.Batch{PolicyLogps: out[:n], Labels: labels, Lengths: make([]int64, n)}
	for i := range n {
		b.Lengths[i] = seqLen(seqs[i])
	}
	if l.reference {
		b.ReferenceLogps = ref
	}
	if l.kl {
		b.PolicyKLLogps = out[n : 2*n]
		if l.reference {
			b.ReferenceKLLogps = refKL
		}
	}
	return b
}

// gradVector lays the objective's gradients out in model output order.
func gradVector(l layout, b *core.Batch, r *core.Result, outputs int) []float64 {
	g := make([]float64, outputs)
	put := func(off int, name string) {
		copy(g[off:], r.Grads[name])
	}
	if l.paired {
		n := len(b.PolicyChosenLogps)
		put(0, core.PolicyChosenLogps)
		put(n, core.PolicyRejectedLogps)
		if l.prompt {
			put(2*n, core.PolicyChosenPromptLogps)
		}
		return g
	}
	n := len(b.PolicyLogps)
	put(0, core.PolicyLogps)
	if l.kl {
		put(n, core.PolicyKLLogps)
	}
	return g
}

// unpair turns pairs into labelled examples, chosen (true) then rejected
// (false) for each pair in turn, as TRL's unpair_preference_dataset.
func unpair(set *data.PairedSet) (rows []data.Row, labels []bool) {
	for i := range set.Len() {
		rows = append(rows, set.Chosen[i], set.Rejected[i])
		labels = append(labels, true, false)
	}
	return rows, labels
}

// klRows pairs prompt i with completion i−1 (row 0 with the last), as TRL's
// KTOTrainer builds its KL dataset within a batch, truncated by tr.
func klRows(rows []data.Row, tr data.Truncation) ([]data.Row, error) {
	prompts := make([][]int, len(rows))
	comps := make([][]int, len(rows))
	for i, r := range rows {
		prompts[i] = r.Tokens[:r.PromptLen]
		comps[i] = r.Tokens[r.PromptLen:]
	}
	return data.KLRows(prompts, comps, tr)
}
