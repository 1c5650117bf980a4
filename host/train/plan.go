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
	tokens    bool     // reads per-token policy log-probs
	refTokens bool     // reads per-token reference log-probs
	wpo       bool     // reads WPO's weight logs (paired)
	columns   []string // data-column inputs ("column.NAME")
	inputs    []string
}

func layoutOf(inputs []string) (layout, error) {
	l := layout{inputs: inputs}
	seen := map[core.Layout]bool{}
	policy := false
	for _, name := range inputs {
		f, ok := core.LookupField(name)
		if !ok {
			return l, fmt.Errorf("train: objective reads input %q, which this host cannot provide", name)
		}
		l.wpo = l.wpo || name == core.PolicyChosenWPOLogps || name == core.PolicyRejectedWPOLogps
		if f.Column {
			l.columns = append(l.columns, name)
			continue
		}
		seen[f.Layout] = true
		policy = policy || f.Policy
		l.reference = l.reference || f.Reference
		l.prompt = l.prompt || name == core.PolicyChosenPromptLogps || name == core.ChosenPromptLengths
		l.kl = l.kl || name == core.PolicyKLLogps || name == core.ReferenceKLLogps
		l.tokens = l.tokens || f.Kind == core.TokenFloat && f.Policy
		l.refTokens = l.refTokens || f.Kind == core.TokenFloat && f.Reference
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

// Parts of an example the model scores.
const (
	partChosen     = iota // chosen completion (paired)
	partRejected          // rejected completion (paired)
	partPrompt            // chosen prompt (paired)
	partCompletion        // completion (unpaired)
	partKL                // KL row's completion (unpaired)
	numParts
)

// output is a policy input the model computes for every example: the sum
// over one part's tokens, or one value per token.
type output struct {
	name  string // policy input
	size  string // its length input, "" if none
	part  int
	token bool
}

// outputs lists the policy inputs of l in model output order. The summed
// completion log-probs are always computed: an objective that does not read
// them sends no gradient for them.
func (l layout) outputs() []output {
	if l.paired {
		o := []output{{core.PolicyChosenLogps, core.ChosenLengths, partChosen, false}, {core.PolicyRejectedLogps, core.RejectedLengths, partRejected, false}}
		if l.prompt {
			o = append(o, output{core.PolicyChosenPromptLogps, core.ChosenPromptLengths, partPrompt, false})
		}
		if l.tokens {
			o = append(o, output{core.PolicyChosenTokenLogps, core.ChosenLengths, partChosen, true},
				output{core.PolicyRejectedTokenLogps, core.RejectedLengths, partRejected, true})
		}
		return o
	}
	o := []output{{core.PolicyLogps, core.Lengths, partCompletion, false}}
	if l.kl {
		o = append(o, output{core.PolicyKLLogps, "", partKL, false})
	}
	if l.tokens {
		o = append(o, output{core.PolicyTokenLogps, core.Lengths, partCompletion, true})
	}
	return o
}

// rowsPer is the number of model rows a batch of n examples needs.
func (l layout) rowsPer(n int) int {
	if l.paired || l.kl {
		return 2 * n
	}
	return n
}

// capacity is the largest number of model outputs a batch of n examples
// of at most length scored positions each can need.
func (l layout) capacity(n, length int) int {
	c := 0
	for _, o := range l.outputs() {
		if o.token {
			c += n * length
		} else {
			c += n
		}
	}
	return c
}

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
	// refTok holds the per-token reference log-probs of every example by
	// input name.
	refTok map[string][][]float64
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
	l     layout
	model *model.Batch
	n     int // examples
	// rows and seqs give, per part, each example's model row and the
	// sequence scored for it.
	rows     [numParts][]int
	seqs     [numParts][]model.Seq
	start    map[string][]int // first output of each example, by policy input
	labels   []bool           // unpaired
	ref      map[string][]float64
	refTok   map[string][][]float64
	columns  map[string][]float64
	wpo      map[string][]float64 // WPO's weight logs, set by the trainer
	tokens   int                  // tokens in the model rows
	examples []int
}

// plan lays out the examples idx.
func (v *view) plan(idx []int) (*plan, error) {
	p := &plan{l: v.l, n: len(idx), examples: idx, model: &model.Batch{}, start: map[string][]int{},
		ref: map[string][]float64{}, refTok: map[string][][]float64{}, columns: map[string][]float64{}}
	for name, all := range v.ref {
		p.ref[name] = pick(all, idx)
	}
	for name, all := range v.refTok {
		p.refTok[name] = pick(all, idx)
	}
	for name, all := range v.columns {
		p.columns[name] = pick(all, idx)
	}
	if v.l.paired {
		sub := v.paired.Subset(idx)
		for _, r := range sub.Chosen {
			p.addRow(partChosen, r, completionSeq(r))
		}
		for i, r := range sub.Rejected {
			p.addRow(partRejected, r, completionSeq(r))
			p.rows[partPrompt] = append(p.rows[partPrompt], p.rows[partChosen][i])
			p.seqs[partPrompt] = append(p.seqs[partPrompt], promptSeq(sub.Chosen[i]))
		}
	} else {
		for _, j := range idx {
			r := v.unpaired.Rows[j]
			p.addRow(partCompletion, r, completionSeq(r))
			p.labels = append(p.labels, v.unpaired.Labels[j])
		}
		if v.l.kl {
			kl, err := v.unpaired.KLRows(idx)
			if err != nil {
				return nil, err
			}
			for _, r := range kl {
				p.addRow(partKL, r, completionSeq(r))
			}
			if v.l.reference {
				ref, err := v.refKL(p.seqs[partKL])
				if err != nil {
					return nil, fmt.Errorf("reference log-probs of KL rows: %w", err)
				}
				p.ref[core.ReferenceKLLogps] = ref
			}
		}
	}
	for _, o := range v.l.outputs() {
		starts := make([]int, p.n)
		for i, s := range p.seqs[o.part] {
			starts[i] = len(p.model.Spans)
			row := p.rows[o.part][i]
			if !o.token {
				p.addSpan(row, s.From, s.To)
				continue
			}
			for t := s.From; t < s.To; t++ {
				p.addSpan(row, t, t+1)
			}
		}
		p.start[o.name] = starts
	}
	return p, nil
}

// addRow adds a model row holding r, scored for part as s.
func (p *plan) addRow(part int, r data.Row, s model.Seq) {
	p.rows[part] = append(p.rows[part], len(p.model.Rows))
	p.seqs[part] = append(p.seqs[part], s)
	p.model.Rows = append(p.model.Rows, r.Tokens)
	p.tokens += len(r.Tokens)
}

// addSpan adds the next output: the log-prob sum over positions from..to
// of row.
func (p *plan) addSpan(row, from, to int) {
	p.model.Spans = append(p.model.Spans, model.Span{Out: len(p.model.Spans), Row: row, From: from, To: to})
}

// batch builds the objective's batch from the model outputs out.
func (p *plan) batch(out []float64) *core.Batch {
	b := &core.Batch{}
	for _, o := range p.l.outputs() {
		starts := p.start[o.name]
		if o.token {
			toks := make([][]float64, p.n)
			for i, s := range p.seqs[o.part] {
				toks[i] = out[starts[i] : starts[i]+s.To-s.From : starts[i]+s.To-s.From]
			}
			*b.Tokens(o.name) = toks
		} else {
			vals := make([]float64, p.n)
			for i := range vals {
				vals[i] = out[starts[i]]
			}
			*b.Floats(o.name) = vals
		}
		if o.size != "" {
			lens := make([]int64, p.n)
			for i, s := range p.seqs[o.part] {
				lens[i] = seqLen(s)
			}
			*b.Counts(o.size) = lens
		}
	}
	for name, v := range p.ref {
		*b.Floats(name) = v
	}
	for name, v := range p.refTok {
		*b.Tokens(name) = v
	}
	for name, v := range p.columns {
		b.SetColumn(name, v)
	}
	for name, v := range p.wpo {
		*b.Floats(name) = v
	}
	if !p.l.paired {
		b.Labels = p.labels
	}
	return b
}

// setWPO sets WPO's weight logs from the per-output sums sums (see
// model.Scorer.ScoreWPO): for each completion, the mean over its tokens, as
// TRL's use_weighting averages them.
func (p *plan) setWPO(sums []float64) {
	p.wpo = map[string][]float64{}
	for _, o := range []struct {
		name, from string
		part       int
	}{{core.PolicyChosenWPOLogps, core.PolicyChosenLogps, partChosen}, {core.PolicyRejectedWPOLogps, core.PolicyRejectedLogps, partRejected}} {
		v := make([]float64, p.n)
		for i, s := range p.seqs[o.part] {
			v[i] = sums[p.start[o.from][i]] / float64(seqLen(s))
		}
		p.wpo[o.name] = v
	}
}

// gradient lays the objective's gradients out in model output order, over
// the model's outputs outputs (a partial batch leaves the rest 0).
func (p *plan) gradient(r *core.Result, outputs int) []float64 {
	g := make([]float64, outputs)
	for _, o := range p.l.outputs() {
		starts := p.start[o.name]
		if o.token {
			for i, tg := range r.TokenGrads[o.name] {
				copy(g[starts[i]:], tg)
			}
			continue
		}
		for i, v := range r.Grads[o.name] {
			g[starts[i]] = v
		}
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

func pick[T any](xs []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

// scoreFunc scores sequences under the frozen reference.
type scoreFunc func([]model.Seq) ([]float64, error)

// newView makes the view of s that an objective of layout l reads, with the
// reference log-probs of every example scored by score (nil when l reads
// no reference) and the data columns it reads. Paired data is unpaired for
// an unpaired objective.
func newView(l layout, s Set, score scoreFunc) (*view, error) {
	v := &view{l: l, ref: map[string][]float64{}, refTok: map[string][][]float64{}, columns: map[string][]float64{}}
	var rows []data.Row // every example's row, in the order of the reference inputs below
	var refs, refToks []string
	var cols data.Columns
	switch {
	case l.paired && s.Paired != nil && s.Paired.Len() > 0:
		v.paired = s.Paired
		rows, cols = slices.Concat(s.Paired.Chosen, s.Paired.Rejected), s.Paired.Columns
		refs = []string{core.ReferenceChosenLogps, core.ReferenceRejectedLogps}
		refToks = []string{core.ReferenceChosenTokenLogps, core.ReferenceRejectedTokenLogps}
	case l.paired:
		return nil, nil
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
	if !l.paired {
		rows, cols = v.unpaired.Rows, v.unpaired.Columns
		refs, refToks = []string{core.ReferenceLogps}, []string{core.ReferenceTokenLogps}
	}
	n := len(rows) / len(refs)
	if l.reference {
		seqs := make([]model.Seq, len(rows))
		for i, r := range rows {
			seqs[i] = completionSeq(r)
		}
		scores, err := score(seqs)
		if err != nil {
			return nil, err
		}
		for k, name := range refs {
			v.ref[name] = scores[k*n : (k+1)*n]
		}
	}
	if l.refTokens {
		var seqs []model.Seq
		for _, r := range rows {
			c := completionSeq(r)
			for t := c.From; t < c.To; t++ {
				seqs = append(seqs, model.Seq{Tokens: r.Tokens, From: t, To: t + 1})
			}
		}
		scores, err := score(seqs)
		if err != nil {
			return nil, err
		}
		toks := make([][]float64, len(rows))
		for i, r := range rows {
			c := completionSeq(r)
			toks[i], scores = scores[:c.To-c.From:c.To-c.From], scores[c.To-c.From:]
		}
		for k, name := range refToks {
			v.refTok[name] = toks[k*n : (k+1)*n]
		}
	}
	for _, name := range l.columns {
		col, _ := core.ColumnOf(name)
		var err error
		if v.columns[name], err = cols.Column(col); err != nil {
			return nil, err
		}
	}
	return v, nil
}
