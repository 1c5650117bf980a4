package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Input names. They are the JSON keys of a [Batch], the keys of the wire
// protocol's input map, and (for policy inputs) the keys of [Result.Grads].
const (
	PolicyChosenLogps       = "policy_chosen_logps"
	PolicyRejectedLogps     = "policy_rejected_logps"
	ReferenceChosenLogps    = "reference_chosen_logps"
	ReferenceRejectedLogps  = "reference_rejected_logps"
	ChosenLengths           = "chosen_lengths"
	RejectedLengths         = "rejected_lengths"
	PolicyChosenPromptLogps = "policy_chosen_prompt_logps"
	ChosenPromptLengths     = "chosen_prompt_lengths"

	PolicyLogps      = "policy_logps"
	ReferenceLogps   = "reference_logps"
	Lengths          = "lengths"
	Labels           = "labels"
	PolicyKLLogps    = "policy_kl_logps"
	ReferenceKLLogps = "reference_kl_logps"
)

// Kind is the element type of an input.
type Kind int

// Element types of inputs.
const (
	Float Kind = iota + 1 // float64 log-probabilities
	Count                 // non-negative token counts
	Bool                  // labels
)

func (k Kind) String() string {
	switch k {
	case Float:
		return "float"
	case Count:
		return "count"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Layout says which examples an input is indexed by.
type Layout int

// Layouts of inputs.
const (
	Paired   Layout = iota + 1 // one entry per (prompt, chosen, rejected) pair
	Unpaired                   // one entry per (prompt, completion, label) example
)

func (l Layout) String() string {
	switch l {
	case Paired:
		return "paired"
	case Unpaired:
		return "unpaired"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Field describes one named input.
type Field struct {
	Name   string
	Kind   Kind
	Layout Layout
	// Policy marks inputs computed by the policy model: an objective returns
	// a gradient for each policy input it reads.
	Policy bool
	// Reference marks inputs computed by the frozen reference model.
	Reference bool
	// Doc is one line for listings.
	Doc string
}

// Fields lists every input this version of the contract knows, in canonical
// order. The order is the order of [Result.Grads] keys in listings and of
// inputs on the wire.
var Fields = []Field{
	{PolicyChosenLogps, Float, Paired, true, false, "policy log-prob of the chosen completion, summed over its tokens"},
	{PolicyRejectedLogps, Float, Paired, true, false, "policy log-prob of the rejected completion, summed over its tokens"},
	{ReferenceChosenLogps, Float, Paired, false, true, "reference log-prob of the chosen completion, summed"},
	{ReferenceRejectedLogps, Float, Paired, false, true, "reference log-prob of the rejected completion, summed"},
	{ChosenLengths, Count, Paired, false, false, "token count of the chosen completion"},
	{RejectedLengths, Count, Paired, false, false, "token count of the rejected completion"},
	{PolicyChosenPromptLogps, Float, Paired, true, false, "policy log-prob of the chosen prompt tokens, summed"},
	{ChosenPromptLengths, Count, Paired, false, false, "number of scored prompt tokens behind policy_chosen_prompt_logps"},
	{PolicyLogps, Float, Unpaired, true, false, "policy log-prob of the completion, summed"},
	{ReferenceLogps, Float, Unpaired, false, true, "reference log-prob of the completion, summed"},
	{Lengths, Count, Unpaired, false, false, "token count of the completion"},
	{Labels, Bool, Unpaired, false, false, "true for a desirable completion, false for an undesirable one"},
	{PolicyKLLogps, Float, Unpaired, true, false, "policy log-prob of a mismatched completion (prompt i, completion i-1), summed"},
	{ReferenceKLLogps, Float, Unpaired, false, true, "reference log-prob of the same mismatched completion, summed"},
}

// LookupField returns the field with the given name.
func LookupField(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Batch holds the inputs of one objective call. Fields an objective did not
// ask for may be nil. Slices are never modified by an objective.
type Batch struct {
	PolicyChosenLogps       []float64 `json:"policy_chosen_logps,omitempty"`
	PolicyRejectedLogps     []float64 `json:"policy_rejected_logps,omitempty"`
	ReferenceChosenLogps    []float64 `json:"reference_chosen_logps,omitempty"`
	ReferenceRejectedLogps  []float64 `json:"reference_rejected_logps,omitempty"`
	ChosenLengths           []int64   `json:"chosen_lengths,omitempty"`
	RejectedLengths         []int64   `json:"rejected_lengths,omitempty"`
	PolicyChosenPromptLogps []float64 `json:"policy_chosen_prompt_logps,omitempty"`
	ChosenPromptLengths     []int64   `json:"chosen_prompt_lengths,omitempty"`

	PolicyLogps      []float64 `json:"policy_logps,omitempty"`
	ReferenceLogps   []float64 `json:"reference_logps,omitempty"`
	Lengths          []int64   `json:"lengths,omitempty"`
	Labels           []bool    `json:"labels,omitempty"`
	PolicyKLLogps    []float64 `json:"policy_kl_logps,omitempty"`
	ReferenceKLLogps []float64 `json:"reference_kl_logps,omitempty"`
}

// Floats returns a pointer to the float input with the given name, or nil if
// name is not a float input.
func (b *Batch) Floats(name string) *[]float64 {
	switch name {
	case PolicyChosenLogps:
		return &b.PolicyChosenLogps
	case PolicyRejectedLogps:
		return &b.PolicyRejectedLogps
	case ReferenceChosenLogps:
		return &b.ReferenceChosenLogps
	case ReferenceRejectedLogps:
		return &b.ReferenceRejectedLogps
	case PolicyChosenPromptLogps:
		return &b.PolicyChosenPromptLogps
	case PolicyLogps:
		return &b.PolicyLogps
	case ReferenceLogps:
		return &b.ReferenceLogps
	case PolicyKLLogps:
		return &b.PolicyKLLogps
	case ReferenceKLLogps:
		return &b.ReferenceKLLogps
	}
	return nil
}

// Counts returns a pointer to the count input with the given name, or nil.
func (b *Batch) Counts(name string) *[]int64 {
	switch name {
	case ChosenLengths:
		return &b.ChosenLengths
	case RejectedLengths:
		return &b.RejectedLengths
	case ChosenPromptLengths:
		return &b.ChosenPromptLengths
	case Lengths:
		return &b.Lengths
	}
	return nil
}

// Bools returns a pointer to the bool input with the given name, or nil.
func (b *Batch) Bools(name string) *[]bool {
	if name == Labels {
		return &b.Labels
	}
	return nil
}

// Len returns the number of elements of the named input (0 if absent).
func (b *Batch) Len(name string) int {
	if p := b.Floats(name); p != nil {
		return len(*p)
	}
	if p := b.Counts(name); p != nil {
		return len(*p)
	}
	if p := b.Bools(name); p != nil {
		return len(*p)
	}
	return 0
}

// Has reports whether the named input is present (non-nil).
func (b *Batch) Has(name string) bool {
	if p := b.Floats(name); p != nil {
		return *p != nil
	}
	if p := b.Counts(name); p != nil {
		return *p != nil
	}
	if p := b.Bools(name); p != nil {
		return *p != nil
	}
	return false
}

// Clone returns a deep copy of b.
func (b *Batch) Clone() *Batch {
	c := &Batch{}
	for _, f := range Fields {
		switch f.Kind {
		case Float:
			*c.Floats(f.Name) = slices.Clone(*b.Floats(f.Name))
		case Count:
			*c.Counts(f.Name) = slices.Clone(*b.Counts(f.Name))
		case Bool:
			*c.Bools(f.Name) = slices.Clone(*b.Bools(f.Name))
		}
	}
	return c
}

// Size returns the number of examples of the given layout: the length of the
// first present input of that layout.
func (b *Batch) Size(l Layout) int {
	for _, f := range Fields {
		if f.Layout == l && b.Has(f.Name) {
			return b.Len(f.Name)
		}
	}
	return 0
}

// Check validates b for an objective that reads inputs: every named input is
// present, inputs of one layout have equal lengths, the batch is not empty,
// floats are finite and counts non-negative. Inputs not named are ignored.
// It returns a *InputError naming the field and index of the first problem.
func (b *Batch) Check(inputs []string) error {
	size := map[Layout]int{}
	first := map[Layout]string{}
	for _, name := range inputs {
		f, ok := LookupField(name)
		if !ok {
			return &InputError{Code: CodeUnknownInput, Field: name, Index: -1,
				Msg: "not an input this version of prefopt knows"}
		}
		if !b.Has(name) {
			return &InputError{Code: CodeMissingInput, Field: name, Index: -1, Msg: "required by the objective but absent"}
		}
		n := b.Len(name)
		if n == 0 {
			return &InputError{Code: CodeEmptyBatch, Field: name, Index: -1, Msg: "empty batch"}
		}
		if prev, ok := size[f.Layout]; ok && prev != n {
			return &InputError{Code: CodeLengthMismatch, Field: name, Index: -1,
				Msg: fmt.Sprintf("has %d elements but %s has %d", n, first[f.Layout], prev)}
		}
		size[f.Layout], first[f.Layout] = n, name
		switch f.Kind {
		case Float:
			for i, v := range *b.Floats(name) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return &InputError{Code: CodeNonFinite, Field: name, Index: i, Value: v, Msg: "not finite"}
				}
			}
		case Count:
			for i, v := range *b.Counts(name) {
				if v < 0 {
					return &InputError{Code: CodeOutOfRange, Field: name, Index: i, Value: float64(v), Msg: "negative token count"}
				}
			}
		}
	}
	return nil
}

// RequirePositive returns a *InputError if any count of the named input is
// zero: objectives that average over tokens call it for the lengths they
// divide by.
func (b *Batch) RequirePositive(name string) error {
	p := b.Counts(name)
	if p == nil {
		panic("core: RequirePositive: " + name + " is not a count input")
	}
	for i, v := range *p {
		if v <= 0 {
			return &InputError{Code: CodeOutOfRange, Field: name, Index: i, Value: float64(v),
				Msg: "must be > 0: the objective averages over these tokens"}
		}
	}
	return nil
}

// DecodeBatchJSON reads one JSON object whose keys are input names (see
// [Fields]) into a Batch. Unknown keys and trailing data are errors; the
// messages name the key.
func DecodeBatchJSON(r io.Reader) (*Batch, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var b Batch
	if err := dec.Decode(&b); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return nil, fmt.Errorf("batch: field %s: cannot use JSON %s as %s (at byte %d)", te.Field, te.Value, te.Type, te.Offset)
		case errors.As(err, &se):
			return nil, fmt.Errorf("batch: invalid JSON at byte %d: %w", se.Offset, err)
		case errors.Is(err, io.EOF):
			return nil, errors.New("batch: empty input: want a JSON object of named arrays")
		}
		if s, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, fmt.Errorf("batch: unknown field %s (known: %s)", s, strings.Join(fieldNames(), ", "))
		}
		return nil, fmt.Errorf("batch: %w", err)
	}
	if dec.More() {
		return nil, errors.New("batch: trailing data after the JSON object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("batch: trailing data after the JSON object")
	}
	return &b, nil
}

func fieldNames() []string {
	names := make([]string, len(Fields))
	for i, f := range Fields {
		names[i] = f.Name
	}
	return names
}
