package data

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/prefopt/prefopt/host/tokenizer"
)

// Row is one tokenized example: Tokens[:PromptLen] is the prompt (BOS
// included) and Tokens[PromptLen:] the completion (EOS included), so the
// completion has len(Tokens) − PromptLen tokens. A token at position 0 has
// nothing before it to predict it: when PromptLen is 0 (a tokenizer without
// BOS and an empty prompt) the first completion token is not scored, and a
// host scores positions max(PromptLen, 1) … len(Tokens)−1.
type Row struct {
	Tokens    []int
	PromptLen int
}

// CompletionLen returns len(r.Tokens) − r.PromptLen.
func (r Row) CompletionLen() int { return len(r.Tokens) - r.PromptLen }

func newRow(prompt, completion []int) Row {
	t := make([]int, 0, len(prompt)+len(completion))
	t = append(append(t, prompt...), completion...)
	return Row{Tokens: t, PromptLen: len(prompt)}
}

// TruncationMode says which prompt tokens survive truncation.
type TruncationMode string

// Truncation modes, as TRL's truncation_mode.
const (
	KeepEnd   TruncationMode = "keep_end"   // keep the last prompt tokens (TRL default)
	KeepStart TruncationMode = "keep_start" // keep the first prompt tokens
)

// Truncation bounds the length of preference rows (TRL's max_length,
// max_prompt_length and truncation_mode). MaxLength 0 turns truncation off;
// then MaxPromptLength must be 0 too. An empty Mode means KeepEnd.
type Truncation struct {
	MaxLength       int            `toml:"max_length" json:"max_length"`               // tokens per row, prompt and completion, BOS and EOS included
	MaxPromptLength int            `toml:"max_prompt_length" json:"max_prompt_length"` // prompt tokens kept when the prompt is shortened
	Mode            TruncationMode `toml:"truncation_mode" json:"truncation_mode"`     // which prompt tokens are kept
}

// DefaultTruncation returns max_length 1024, max_prompt_length 512,
// keep_end: the defaults of TRL's DPOConfig and KTOConfig (TRL ≥ 0.12).
func DefaultTruncation() Truncation {
	return Truncation{MaxLength: 1024, MaxPromptLength: 512, Mode: KeepEnd}
}

// Validate checks 0 < MaxPromptLength ≤ MaxLength when MaxLength > 0, both
// zero otherwise, and a known Mode. MaxPromptLength = MaxLength is allowed
// but leaves no completion token to any row that needs truncating.
func (t Truncation) Validate() error {
	switch t.Mode {
	case "", KeepEnd, KeepStart:
	default:
		return fmt.Errorf("data: truncation mode must be %s or %s, got %q", KeepEnd, KeepStart, t.Mode)
	}
	switch {
	case t.MaxLength < 0:
		return fmt.Errorf("data: max_length must be >= 0, got %d", t.MaxLength)
	case t.MaxLength == 0 && t.MaxPromptLength != 0:
		return fmt.Errorf("data: max_prompt_length %d needs max_length > 0", t.MaxPromptLength)
	case t.MaxLength > 0 && t.MaxPromptLength < 1:
		return fmt.Errorf("data: max_prompt_length must be >= 1, got %d", t.MaxPromptLength)
	case t.MaxLength > 0 && t.MaxPromptLength > t.MaxLength:
		return fmt.Errorf("data: max_prompt_length must be <= max_length %d, got %d", t.MaxLength, t.MaxPromptLength)
	}
	return nil
}

// Truncate applies TRL's rule to a prompt and the completions that share it
// (chosen and rejected of one pair, or a single completion). With L the
// length of the longest completion:
//
//  1. if len(prompt) + L > MaxLength, the prompt keeps its last
//     (KeepEnd) or first (KeepStart) MaxPromptLength tokens;
//  2. if still len(prompt) + L > MaxLength, every completion keeps its first
//     MaxLength − MaxPromptLength tokens.
//
// As in TRL the completion budget in step 2 is MaxLength − MaxPromptLength
// even when the prompt is shorter than MaxPromptLength, so such a row can end
// up shorter than MaxLength. Both steps look at the longest completion, so
// the completions of a pair keep the same prompt. This is the rule of TRL's
// DPOTrainer.tokenize_row up to TRL 0.11, with BOS and EOS part of the
// prompt and completion before truncating, so a cut completion loses its EOS.
// KTOTrainer's _process_tokens takes the same two steps but adds BOS and EOS
// afterwards, reserving room for them; DPOTrainer from TRL 0.12 on instead
// always keeps the last max_prompt_length prompt tokens, then cuts the
// sequence to max_length. The results share memory with the arguments.
// Truncate panics if t is invalid.
func (t Truncation) Truncate(prompt []int, completions ...[]int) ([]int, [][]int) {
	if err := t.Validate(); err != nil {
		panic(err)
	}
	cs := append([][]int(nil), completions...)
	if t.MaxLength == 0 {
		return prompt, cs
	}
	longest := 0
	for _, c := range cs {
		longest = max(longest, len(c))
	}
	if len(prompt)+longest > t.MaxLength {
		k := min(len(prompt), t.MaxPromptLength)
		if t.Mode == KeepStart {
			prompt = prompt[:k]
		} else {
			prompt = prompt[len(prompt)-k:]
		}
	}
	if len(prompt)+longest > t.MaxLength {
		budget := t.MaxLength - t.MaxPromptLength
		for i, c := range cs {
			cs[i] = c[:min(len(c), budget)]
		}
	}
	return prompt, cs
}

func (t Truncation) emptyMsg(what string) string {
	return fmt.Sprintf("%s has no tokens left after truncation (max_length %d, max_prompt_length %d)",
		what, t.MaxLength, t.MaxPromptLength)
}

// encodePrompt returns BOS (if the tokenizer has one) and the ids of s.
func encodePrompt(tok tokenizer.Tokenizer, s string) ([]int, error) {
	ids, err := tok.Encode(s)
	if err != nil {
		return nil, err
	}
	if bos := tok.BOS(); bos >= 0 {
		ids = append([]int{bos}, ids...)
	}
	return ids, nil
}

// encodeCompletion returns the ids of s and EOS (if the tokenizer has one).
func encodeCompletion(tok tokenizer.Tokenizer, s string) ([]int, error) {
	ids, err := tok.Encode(s)
	if err != nil {
		return nil, err
	}
	if eos := tok.EOS(); eos >= 0 {
		ids = append(ids, eos)
	}
	return ids, nil
}

func encodeErr(src Source, field string, err error) error {
	return &LineError{File: src.File, Line: src.Line, Msg: fmt.Sprintf("%s: %v", field, err), Err: err}
}

// PairedSet is tokenized paired preference data. Chosen[i] and Rejected[i]
// share their prompt tokens; Source[i] is where pair i came from. A set made
// by [NewPairedSet] also keeps the untruncated tokens, so that
// [PairedSet.Unpaired] can truncate each example on its own; a set built as
// a literal is taken to be untruncated. Columns holds the data columns read
// with the pairs (see [ReadOptions.Columns]): Columns[name][i] belongs to
// pair i.
type PairedSet struct {
	Chosen, Rejected []Row
	Source           []Source
	Columns          Columns
	Truncation       Truncation

	prompts, chosen, rejected [][]int // untruncated, BOS and EOS included
}

// Len returns the number of pairs.
func (s *PairedSet) Len() int { return len(s.Chosen) }

// Subset returns the pairs at idx, in that order, sharing token memory
// with s. It panics if an index is out of range.
func (s *PairedSet) Subset(idx []int) *PairedSet {
	out := &PairedSet{Truncation: s.Truncation, Columns: s.Columns.subset(idx)}
	for _, i := range idx {
		out.Chosen = append(out.Chosen, s.Chosen[i])
		out.Rejected = append(out.Rejected, s.Rejected[i])
		out.Source = append(out.Source, s.Source[i])
		if s.prompts != nil {
			out.prompts = append(out.prompts, s.prompts[i])
			out.chosen = append(out.chosen, s.chosen[i])
			out.rejected = append(out.rejected, s.rejected[i])
		}
	}
	return out
}

// untruncated returns the prompt and completions of pair i before
// truncation.
func (s *PairedSet) untruncated(i int) (prompt, chosen, rejected []int) {
	if s.prompts != nil {
		return s.prompts[i], s.chosen[i], s.rejected[i]
	}
	c, r := s.Chosen[i], s.Rejected[i]
	return c.Tokens[:c.PromptLen], c.Tokens[c.PromptLen:], r.Tokens[r.PromptLen:]
}

// Unpaired returns the pairs as labelled examples in the order of [Unpair]
// (TRL's unpair_preference_dataset), each example truncated on its own with
// s.Truncation from the untruncated tokens, as TRL tokenizes an unpaired
// dataset. Both examples of a pair keep its data columns. A completion left
// with no tokens is a *LineError.
func (s *PairedSet) Unpaired() (*UnpairedSet, error) {
	n := s.Len()
	u := &UnpairedSet{Truncation: s.Truncation, Rows: make([]Row, 0, 2*n), Labels: make([]bool, 0, 2*n),
		Source: make([]Source, 0, 2*n), prompts: make([][]int, 0, 2*n), completions: make([][]int, 0, 2*n)}
	var err error
	order := make([]int, 0, 2*n)
	unpairOrder(n, func(i int, chosen bool) {
		order = append(order, i)
		if err != nil {
			return
		}
		prompt, c, r := s.untruncated(i)
		comp, name := r, "rejected"
		if chosen {
			comp, name = c, "chosen"
		}
		p, cs := s.Truncation.Truncate(prompt, comp)
		if len(cs[0]) == 0 {
			err = &LineError{File: s.Source[i].File, Line: s.Source[i].Line, Msg: s.Truncation.emptyMsg(name)}
			return
		}
		u.Rows = append(u.Rows, newRow(p, cs[0]))
		u.Labels = append(u.Labels, chosen)
		u.Source = append(u.Source, s.Source[i])
		u.prompts = append(u.prompts, prompt)
		u.completions = append(u.completions, comp)
	})
	if err != nil {
		return nil, err
	}
	u.Columns = s.Columns.subset(order)
	return u, nil
}

// Columns holds numeric data columns by name, one value per example of
// the set that holds them. Nil when no column was read.
type Columns map[string][]float64

// Column returns the values of the named data column, one per example, for
// the trainer to pass as the input core.ColumnInput(name). It fails, naming
// the columns read, if name was not read from the data.
func (c Columns) Column(name string) ([]float64, error) {
	if v, ok := c[name]; ok {
		return v, nil
	}
	read := slices.Sorted(maps.Keys(c))
	list := "none"
	if len(read) > 0 {
		list = strings.Join(read, ", ")
	}
	return nil, fmt.Errorf("data: column %q was not read from the data (read: %s); list it in the data columns to read", name, list)
}

func (c Columns) subset(idx []int) Columns {
	if c == nil {
		return nil
	}
	out := make(Columns, len(c))
	for name, v := range c {
		w := make([]float64, len(idx))
		for k, i := range idx {
			w[k] = v[i]
		}
		out[name] = w
	}
	return out
}

// columnsOf gathers per-example column maps into a Columns. Every example
// must hold the same names as the first; a mismatch is a *LineError.
func columnsOf(n int, at func(i int) (map[string]float64, Source)) (Columns, error) {
	first, _ := at(0)
	if len(first) == 0 {
		for i := 1; i < n; i++ {
			if m, src := at(i); len(m) > 0 {
				return nil, &LineError{File: src.File, Line: src.Line, Msg: "has data columns but the first example has none"}
			}
		}
		return nil, nil
	}
	out := make(Columns, len(first))
	for name := range first {
		out[name] = make([]float64, n)
	}
	for i := range n {
		m, src := at(i)
		if len(m) != len(first) {
			return nil, &LineError{File: src.File, Line: src.Line,
				Msg: fmt.Sprintf("has %d data columns but the first example has %d", len(m), len(first))}
		}
		for name, v := range m {
			col, ok := out[name]
			if !ok {
				return nil, &LineError{File: src.File, Line: src.Line, Msg: fmt.Sprintf("column %q: not a column of the first example", name)}
			}
			col[i] = v
		}
	}
	return out, nil
}

// NewPairedSet tokenizes pairs (see the package documentation) and
// truncates each with [Truncation.Truncate] applied to its prompt and both
// completions. A text the tokenizer refuses, or a completion left with no
// tokens, is a *LineError naming the pair's source.
func NewPairedSet(pairs []Pair, tok tokenizer.Tokenizer, tr Truncation) (*PairedSet, error) {
	if err := tr.Validate(); err != nil {
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("data: no pairs")
	}
	s := &PairedSet{
		Chosen:     make([]Row, 0, len(pairs)),
		Rejected:   make([]Row, 0, len(pairs)),
		Source:     make([]Source, 0, len(pairs)),
		Truncation: tr,
		prompts:    make([][]int, 0, len(pairs)),
		chosen:     make([][]int, 0, len(pairs)),
		rejected:   make([][]int, 0, len(pairs)),
	}
	for _, p := range pairs {
		prompt, err := encodePrompt(tok, p.Prompt)
		if err != nil {
			return nil, encodeErr(p.Source, "prompt", err)
		}
		chosen, err := encodeCompletion(tok, p.Chosen)
		if err != nil {
			return nil, encodeErr(p.Source, "chosen", err)
		}
		rejected, err := encodeCompletion(tok, p.Rejected)
		if err != nil {
			return nil, encodeErr(p.Source, "rejected", err)
		}
		kept, cs := tr.Truncate(prompt, chosen, rejected)
		for i, name := range []string{"chosen", "rejected"} {
			if len(cs[i]) == 0 {
				return nil, &LineError{File: p.Source.File, Line: p.Source.Line, Msg: tr.emptyMsg(name)}
			}
		}
		s.Chosen = append(s.Chosen, newRow(kept, cs[0]))
		s.Rejected = append(s.Rejected, newRow(kept, cs[1]))
		s.Source = append(s.Source, p.Source)
		s.prompts = append(s.prompts, prompt)
		s.chosen = append(s.chosen, chosen)
		s.rejected = append(s.rejected, rejected)
	}
	cols, err := columnsOf(len(pairs), func(i int) (map[string]float64, Source) { return pairs[i].Columns, pairs[i].Source })
	if err != nil {
		return nil, err
	}
	s.Columns = cols
	return s, nil
}

// unpairChunk is the batch size of datasets.Dataset.map, which TRL's
// unpair_preference_dataset runs with batched=True.
const unpairChunk = 1000

// Unpair turns pairs into labeled examples as TRL's unpair_preference_dataset
// does: each chosen completion becomes a true example and each rejected one a
// false example with the same prompt. Order: pairs are taken in chunks of
// 1000 (the map batch size TRL inherits); within a chunk all chosen examples
// come first, in pair order, then all rejected ones. Both examples of a pair
// keep its data columns.
func Unpair(pairs []Pair) []Labeled {
	out := make([]Labeled, 0, 2*len(pairs))
	unpairOrder(len(pairs), func(i int, chosen bool) {
		p := pairs[i]
		c := p.Rejected
		if chosen {
			c = p.Chosen
		}
		out = append(out, Labeled{Prompt: p.Prompt, Completion: c, Label: chosen, Columns: p.Columns, Source: p.Source})
	})
	return out
}

// unpairOrder calls f for the examples of n pairs in [Unpair]'s order.
func unpairOrder(n int, f func(pair int, chosen bool)) {
	for lo := 0; lo < n; lo += unpairChunk {
		hi := min(lo+unpairChunk, n)
		for _, chosen := range []bool{true, false} {
			for i := lo; i < hi; i++ {
				f(i, chosen)
			}
		}
	}
}

// UnpairedSet is tokenized unpaired (KTO) data: Rows[i] with label
// Labels[i] from Source[i], and data columns as in [PairedSet]. It keeps
// the untruncated prompt and completion tokens so that
// [UnpairedSet.KLRows] can re-pair and re-truncate them.
type UnpairedSet struct {
	Rows       []Row
	Labels     []bool
	Source     []Source
	Columns    Columns
	Truncation Truncation

	prompts, completions [][]int // untruncated, BOS and EOS included
}

// Len returns the number of examples.
func (s *UnpairedSet) Len() int { return len(s.Rows) }

// Subset returns the examples at idx, in that order, sharing token memory
// with s. It panics if an index is out of range.
func (s *UnpairedSet) Subset(idx []int) *UnpairedSet {
	out := &UnpairedSet{Truncation: s.Truncation, Columns: s.Columns.subset(idx)}
	for _, i := range idx {
		out.Rows = append(out.Rows, s.Rows[i])
		out.Labels = append(out.Labels, s.Labels[i])
		out.Source = append(out.Source, s.Source[i])
		if s.prompts != nil {
			out.prompts = append(out.prompts, s.prompts[i])
			out.completions = append(out.completions, s.completions[i])
		}
	}
	return out
}

// NewUnpairedSet tokenizes labeled examples and truncates each with
// [Truncation.Truncate] applied to its prompt and its completion. Errors are
// like NewPairedSet's.
func NewUnpairedSet(examples []Labeled, tok tokenizer.Tokenizer, tr Truncation) (*UnpairedSet, error) {
	if err := tr.Validate(); err != nil {
		return nil, err
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("data: no examples")
	}
	n := len(examples)
	s := &UnpairedSet{Rows: make([]Row, 0, n), Labels: make([]bool, 0, n), Source: make([]Source, 0, n),
		Truncation: tr, prompts: make([][]int, 0, n), completions: make([][]int, 0, n)}
	for _, e := range examples {
		prompt, err := encodePrompt(tok, e.Prompt)
		if err != nil {
			return nil, encodeErr(e.Source, "prompt", err)
		}
		completion, err := encodeCompletion(tok, e.Completion)
		if err != nil {
			return nil, encodeErr(e.Source, "completion", err)
		}
		p, cs := tr.Truncate(prompt, completion)
		if len(cs[0]) == 0 {
			return nil, &LineError{File: e.Source.File, Line: e.Source.Line, Msg: tr.emptyMsg("completion")}
		}
		s.Rows = append(s.Rows, newRow(p, cs[0]))
		s.Labels = append(s.Labels, e.Label)
		s.Source = append(s.Source, e.Source)
		s.prompts = append(s.prompts, prompt)
		s.completions = append(s.completions, completion)
	}
	cols, err := columnsOf(n, func(i int) (map[string]float64, Source) { return examples[i].Columns, examples[i].Source })
	if err != nil {
		return nil, err
	}
	s.Columns = cols
	return s, nil
}

// KLRows builds the mismatched rows of KTO's KL estimate for the batch of
// examples at indices batch: row i joins the prompt of batch[i] with the
// completion of batch[i−1], and row 0 the completion of the last example
// (a batch of one pairs an example with itself). Untruncated tokens are
// re-paired and truncated with s.Truncation, as TRL's _get_kl_dataset
// shifts completions before _process_tokens truncates. TRL shifts over
// consecutive dataset chunks before shuffling; here the shift is within the
// training batch, so the mismatched completions are the batch's own, as
// TRL's docstring recommends. A row left without completion tokens is an
// error naming both sources. A set built as a literal is taken to be
// untruncated.
func (s *UnpairedSet) KLRows(batch []int) ([]Row, error) {
	prompts := make([][]int, len(batch))
	completions := make([][]int, len(batch))
	for i, j := range batch {
		if j < 0 || j >= len(s.Rows) {
			return nil, fmt.Errorf("data: KL batch index %d at position %d out of range [0, %d)", j, i, len(s.Rows))
		}
		if s.prompts != nil {
			prompts[i], completions[i] = s.prompts[j], s.completions[j]
		} else {
			r := s.Rows[j]
			prompts[i], completions[i] = r.Tokens[:r.PromptLen], r.Tokens[r.PromptLen:]
		}
	}
	rows, bad, err := klRows(prompts, completions, s.Truncation)
	if err != nil && bad >= 0 {
		prev := batch[(bad+len(batch)-1)%len(batch)]
		return nil, fmt.Errorf("data: KL row %d (prompt of %v, completion of %v): %s",
			bad, s.Source[batch[bad]], s.Source[prev], s.Truncation.emptyMsg("completion"))
	}
	return rows, err
}

func klRows(prompts, completions [][]int, tr Truncation) ([]Row, int, error) {
	if err := tr.Validate(); err != nil {
		return nil, -1, err
	}
	n := len(prompts)
	if n == 0 || len(completions) != n {
		return nil, -1, fmt.Errorf("data: KL rows need equal, non-zero numbers of prompts and completions, got %d and %d", n, len(completions))
	}
	rows := make([]Row, n)
	for i := range n {
		p, cs := tr.Truncate(prompts[i], completions[(i+n-1)%n])
		if len(cs[0]) == 0 {
			return nil, i, fmt.Errorf("data: KL row %d: %s", i, tr.emptyMsg("completion"))
		}
		rows[i] = newRow(p, cs[0])
	}
	return rows, -1, nil
}

// SFTSet is tokenized fine-tuning data.
type SFTSet struct {
	Rows   []Row
	Source []Source
}

// Len returns the number of examples.
func (s *SFTSet) Len() int { return len(s.Rows) }

// Subset returns the examples at idx, in that order, sharing token memory
// with s. It panics if an index is out of range.
func (s *SFTSet) Subset(idx []int) *SFTSet {
	out := &SFTSet{}
	for _, i := range idx {
		out.Rows = append(out.Rows, s.Rows[i])
		out.Source = append(out.Source, s.Source[i])
	}
	return out
}

// NewSFTSet tokenizes fine-tuning samples: the row is BOS, prompt ids,
// completion ids, EOS (BOS and EOS when the tokenizer has them), with
// PromptLen covering BOS and the prompt. For text data the prompt is empty,
// so PromptLen is 1 with BOS and 0 without (then the first text token is not
// scored; see [Row]). When maxLength > 0 a longer row keeps its first
// maxLength tokens, as TRL's SFTTrainer truncates; a completion left with no
// tokens is a *LineError. maxLength 0 means no limit.
func NewSFTSet(samples []Sample, tok tokenizer.Tokenizer, maxLength int) (*SFTSet, error) {
	if maxLength < 0 {
		return nil, fmt.Errorf("data: max_length must be >= 0, got %d", maxLength)
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("data: no samples")
	}
	s := &SFTSet{Rows: make([]Row, 0, len(samples)), Source: make([]Source, 0, len(samples))}
	for _, e := range samples {
		prompt, err := encodePrompt(tok, e.Prompt)
		if err != nil {
			return nil, encodeErr(e.Source, "prompt", err)
		}
		completion, err := encodeCompletion(tok, e.Completion)
		if err != nil {
			return nil, encodeErr(e.Source, "completion", err)
		}
		r := newRow(prompt, completion)
		if maxLength > 0 && len(r.Tokens) > maxLength {
			r.Tokens = r.Tokens[:maxLength]
			r.PromptLen = min(r.PromptLen, maxLength)
		}
		if r.CompletionLen() == 0 {
			return nil, &LineError{File: e.Source.File, Line: e.Source.Line,
				Msg: fmt.Sprintf("completion has no tokens left after truncation (max_length %d)", maxLength)}
		}
		s.Rows = append(s.Rows, r)
		s.Source = append(s.Source, e.Source)
	}
	return s, nil
}

// PairedSet tokenizes a paired or implicit-prompt file with [NewPairedSet].
func (f *File) PairedSet(tok tokenizer.Tokenizer, tr Truncation) (*PairedSet, error) {
	if !f.Format.Paired() {
		return nil, fmt.Errorf("data: %s holds %s data, want paired or implicit", f.Name, f.Format)
	}
	return NewPairedSet(f.Pairs, tok, tr)
}

// UnpairedSet tokenizes an unpaired file with [NewUnpairedSet]; a paired or
// implicit-prompt file is first converted with [Unpair].
func (f *File) UnpairedSet(tok tokenizer.Tokenizer, tr Truncation) (*UnpairedSet, error) {
	switch {
	case f.Format == FormatUnpaired:
		return NewUnpairedSet(f.Labeled, tok, tr)
	case f.Format.Paired():
		return NewUnpairedSet(Unpair(f.Pairs), tok, tr)
	}
	return nil, fmt.Errorf("data: %s holds %s data, want unpaired, paired or implicit", f.Name, f.Format)
}

// SFTSet tokenizes a text or prompt_completion file with [NewSFTSet].
func (f *File) SFTSet(tok tokenizer.Tokenizer, maxLength int) (*SFTSet, error) {
	if f.Format != FormatText && f.Format != FormatPromptCompletion {
		return nil, fmt.Errorf("data: %s holds %s data, want text or prompt_completion", f.Name, f.Format)
	}
	return NewSFTSet(f.Samples, tok, maxLength)
}
