package train

import (
	"fmt"
	"slices"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
)

// layout describes what one objective asks of the model for each example.
type layout struct {
	paired    bool
	reference bool     // reads reference log-probs
	prompt    bool     // reads the chosen prompt's log-probs (paired)
	kl        bool     // reads KL-pair log-probs (unpaired)
	columns   []string // data-column inputs ("column.NAME")
	inputs    []string
}

func layoutOf(inputs []string) (layout, error) {
	l := layout{inputs: inputs}
	seen := map[core.Layout]bool{}
	policy := false
	for _, name := range inputs {
		f, ok := core.LookupField(name)
		// Per-token and WPO inputs are part of the contract, not yet computed
		// by this trainer.
		if !ok || f.Kind == core.TokenFloat || name == core.PolicyChosenWPOLogps || name == core.PolicyRejectedWPOLogps {
			return l, fmt.Errorf("train: objective reads input %q, which this host cannot provide", name)
		}
		if f.Column {
			l.columns = append(l.columns, name)
			continue
		}
		seen[f.Layout] = true
		policy = policy || f.Policy
		l.reference = l.reference || f.Reference
		l.prompt = l.prompt || name == core.PolicyChosenPromptLogps || name == core.ChosenPromptLengths
		l.kl = l.kl || name == core.PolicyKLLogps || name == core.ReferenceKLLogps
	}
	switch {
	case seen[core.Paired] && seen[core.Unpaired]:
		return l, fmt.Errorf("train: objective reads both paired and unpaired inputs (%v)", inputs)
	case !seen[core.Paired] && !seen[core.Unpaired]:
		return l, fmt.Errorf("train: objective reads no per-example inputs (%v)", inputs)
	case !policy:
		return l, fmt.Errorf("train: objective reads no policy input (%v): it has no gradient to train with", inputs)
	}
	l.paired = seen[core.Paired]
	return l, nil
}

// slot is a policy input the model computes: output j of a plan is entry
// j−off of input name.
type slot struct {
	name string // policy input
	size string // its length input, "" if none
	off  int
}

// slots lists the policy inputs of n examples in model output order.
func (l layout) slots(n int) []slot {
	if l.paired {
		s := []slot{{core.PolicyChosenLogps, core.ChosenLengths, 0}, {core.PolicyRejectedLogps, core.RejectedLengths, n}}
		if l.prompt {
			s = append(s, slot{core.PolicyChosenPromptLogps, core.ChosenPromptLengths, 2 * n})
		}
		return s
	}
	s := []slot{{core.PolicyLogps, core.Lengths, 0}}
	if l.kl {
		s = append(s, slot{core.PolicyKLLogps, "", n})
	}
	return s
}

// rowsPer is the number of model rows a batch of n examples needs.
func (l layout) rowsPer(n int) int {
	if l.paired || l.kl {
		return 2 * n
	}
	return n
}

// outputs is the number of model outputs a batch of n examples needs.
func (l layout) outputs(n int) int { return n * len(l.slots(1)) }

// view is one data set as an objective reads it: the examples and their
// reference log-probs, cut into plans one batch at a time. The training and
// the evaluation data are two views of the same kind.
type view struct {
	l        layout
	paired   *data.PairedSet
	unpaired *data.UnpairedSet
	// ref holds the reference log-probs of every example by input name.
	ref map[string][]float64
	// refKL scores KL rows under the reference (unpaired with KL and
	// reference only); they depend on the batch, so they are scored per plan.
	refKL func([]model.Seq) ([]float64, error)
	// columns holds the data columns the objective reads, by input name.
	columns map[string][]float64
}

// len returns the number of examples.
func (v *view) len() int {
	if v == nil {
		return 0
	}
	if v.l.paired {
		return v.paired.Len()
	}
	return v.unpaired.Len()
}

// plan is one batch of examples laid out for the model and the objective:
// the model rows and output spans, and how the outputs become the
// objective's batch and the objective's gradients become a gradient over the
// outputs.
type plan struct {
	l        layout
	model    *model.Batch
	seqs     []model.Seq // output j scores seqs[j]
	n        int         // examples
	labels   []bool      // unpaired
	ref      map[string][]float64
	tokens   int // tokens in the model rows
	examples []int
	columns  map[string][]float64
}

// plan lays out the examples idx.
func (v *view) plan(idx []int) (*plan, error) {
	p := &plan{l: v.l, n: len(idx), examples: idx, ref: map[string][]float64{}, model: &model.Batch{}, columns: map[string][]float64{}}
	for name, all := range v.ref {
		p.ref[name] = pick(all, idx)
	}
	for name, all := range v.columns {
		p.columns[name] = pick(all, idx)
	}
	if v.l.paired {
		sub := v.paired.Subset(idx)
		for _, r := range sub.Chosen {
			p.addRow(r, completionSeq(r))
		}
		for _, r := range sub.Rejected {
			p.addRow(r, completionSeq(r))
		}
		if v.l.prompt {
			for i, r := range sub.Chosen {
				p.addSpan(i, promptSeq(r))
			}
		}
		return p, nil
	}
	for _, j := range idx {
		r := v.unpaired.Rows[j]
		p.addRow(r, completionSeq(r))
		p.labels = append(p.labels, v.unpaired.Labels[j])
	}
	if v.l.kl {
		kl, err := v.unpaired.KLRows(idx)
		if err != nil {
			return nil, err
		}
		for _, r := range kl {
			p.addRow(r, completionSeq(r))
		}
		if v.l.reference {
			ref, err := v.refKL(p.seqs[p.n:])
			if err != nil {
				return nil, fmt.Errorf("reference log-probs of KL rows: %w", err)
			}
			p.ref[core.ReferenceKLLogps] = ref
		}
	}
	return p, nil
}

// addRow adds a model row scored by one output.
func (p *plan) addRow(r data.Row, s model.Seq) {
	p.model.Rows = append(p.model.Rows, r.Tokens)
	p.tokens += len(r.Tokens)
	p.addSpan(len(p.model.Rows)-1, s)
}

// addSpan adds an output scoring s on model row row.
func (p *plan) addSpan(row int, s model.Seq) {
	p.model.Spans = append(p.model.Spans, model.Span{Out: len(p.seqs), Row: row, From: s.From, To: s.To})
	p.seqs = append(p.seqs, s)
}

// batch builds the objective's batch from the model outputs out.
func (p *plan) batch(out []float64) *core.Batch {
	b := &core.Batch{}
	for _, s := range p.l.slots(p.n) {
		*b.Floats(s.name) = out[s.off : s.off+p.n]
		if s.size != "" {
			lens := make([]int64, p.n)
			for i := range lens {
				lens[i] = seqLen(p.seqs[s.off+i])
			}
			*b.Counts(s.size) = lens
		}
	}
	for name, v := range p.ref {
		*b.Floats(name) = v
	}
	for name, v := range p.columns {
		b.SetColumn(name, v)
	}
	if !p.l.paired {
		b.Labels = p.labels
	}
	return b
}

// gradient lays the objective's gradients out in model output order, over
// the model's outputs outputs (a partial batch leaves the rest 0).
func (p *plan) gradient(r *core.Result, outputs int) []float64 {
	g := make([]float64, outputs)
	for _, s := range p.l.slots(p.n) {
		copy(g[s.off:s.off+p.n], r.Grads[s.name])
	}
	return g
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

func pick(xs []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

// newView makes the view of s that an objective of layout l reads, with the
// reference log-probs of every example scored by score (nil when l reads
// no reference) and the data columns it reads. Paired data is unpaired for
// an unpaired objective.
func newView(l layout, s Set, score func([]data.Row) ([]float64, error)) (*view, error) {
	v, err := newViewOf(l, s, score)
	if v == nil || err != nil {
		return v, err
	}
	var cols data.Columns
	if l.paired {
		cols = v.paired.Columns
	} else {
		cols = v.unpaired.Columns
	}
	v.columns = map[string][]float64{}
	for _, name := range l.columns {
		col, _ := core.ColumnOf(name)
		if v.columns[name], err = cols.Column(col); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func newViewOf(l layout, s Set, score func([]data.Row) ([]float64, error)) (*view, error) {
	v := &view{l: l, ref: map[string][]float64{}}
	if l.paired {
		if s.Paired == nil || s.Paired.Len() == 0 {
			return nil, nil
		}
		v.paired = s.Paired
		if l.reference {
			scores, err := score(slices.Concat(s.Paired.Chosen, s.Paired.Rejected))
			if err != nil {
				return nil, err
			}
			n := s.Paired.Len()
			v.ref[core.ReferenceChosenLogps], v.ref[core.ReferenceRejectedLogps] = scores[:n], scores[n:]
		}
		return v, nil
	}
	switch {
	case s.Unpaired != nil && s.Unpaired.Len() > 0:
		v.unpaired = s.Unpaired
	case s.Paired != nil && s.Paired.Len() > 0:
		u, err := s.Paired.Unpaired()
		if err != nil {
			return nil, err
		}
		v.unpaired = u
	default:
		return nil, nil
	}
	if l.reference {
		scores, err := score(v.unpaired.Rows)
		if err != nil {
			return nil, err
		}
		v.ref[core.ReferenceLogps] = scores
	}
	return v, nil
}
