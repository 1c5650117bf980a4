package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Input names. They are the JSON keys of a [Batch], the keys of the wire
// protocol's input map, and (for policy inputs) the keys of [Result.Grads]
// or [Result.TokenGrads].
const (
	PolicyChosenLogps       = "policy_chosen_logps"
	PolicyRejectedLogps     = "policy_rejected_logps"
	ReferenceChosenLogps    = "reference_chosen_logps"
	ReferenceRejectedLogps  = "reference_rejected_logps"
	ChosenLengths           = "chosen_lengths"
	RejectedLengths         = "rejected_lengths"
	PolicyChosenPromptLogps = "policy_chosen_prompt_logps"
	ChosenPromptLengths     = "chosen_prompt_lengths"

	PolicyChosenTokenLogps      = "policy_chosen_token_logps"
	PolicyRejectedTokenLogps    = "policy_rejected_token_logps"
	ReferenceChosenTokenLogps   = "reference_chosen_token_logps"
	ReferenceRejectedTokenLogps = "reference_rejected_token_logps"
	PolicyChosenWPOLogps        = "policy_chosen_wpo_logps"
	PolicyRejectedWPOLogps      = "policy_rejected_wpo_logps"

	PolicyLogps      = "policy_logps"
	ReferenceLogps   = "reference_logps"
	Lengths          = "lengths"
	Labels           = "labels"
	PolicyKLLogps    = "policy_kl_logps"
	ReferenceKLLogps = "reference_kl_logps"

	PolicyTokenLogps    = "policy_token_logps"
	ReferenceTokenLogps = "reference_token_logps"
)

// ColumnPrefix starts the input name of a data column: the input
// "column.score_chosen" carries the numeric key "score_chosen" of every
// example of the data file. Data-column inputs are float, one value per
// example in the layout of the objective's other inputs, finite, and never
// receive a gradient.
const ColumnPrefix = "column."

// ColumnInput returns the input name of the data column named column.
func ColumnInput(column string) string { return ColumnPrefix + column }

// ColumnOf returns the data column an input name refers to, and whether it
// is a well-formed data-column input: the prefix followed by one or more
// ASCII letters, digits, '_' or '-'.
func ColumnOf(input string) (string, bool) {
	col, ok := strings.CutPrefix(input, ColumnPrefix)
	if !ok || col == "" {
		return "", false
	}
	for _, r := range col {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return "", false
		}
	}
	return col, true
}

// Kind is the element type of an input.
type Kind int

// Element types of inputs.
const (
	Float      Kind = iota + 1 // float64 log-probabilities, one per example
	Count                      // non-negative token counts
	Bool                       // labels
	TokenFloat                 // float64 per-token log-probabilities, one array per example
)

func (k Kind) String() string {
	switch k {
	case Float:
		return "float"
	case Count:
		return "count"
	case Bool:
		return "bool"
	case TokenFloat:
		return "token float"
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
	Layout Layout // 0 for a data column: the objective's other inputs decide
	// Policy marks inputs computed by the policy model: an objective returns
	// a gradient for each policy input it reads.
	Policy bool
	// Reference marks inputs computed by the frozen reference model.
	Reference bool
	// Doc is one line for listings.
	Doc string
	// Lengths names the count input holding the length of each example's
	// array, for a TokenFloat input; an objective that reads the input
	// reads Lengths too.
	Lengths string
	// Column marks a data-column input (see [ColumnPrefix]).
	Column bool
}

// Fields lists every fixed-name input this version of the contract knows,
// in canonical order; data-column inputs follow them, sorted by name. The
// order is the order of [Objective.Inputs] and of gradient keys in listings.
var Fields = []Field{
	{Name: PolicyChosenLogps, Kind: Float, Layout: Paired, Policy: true, Doc: "policy log-prob of the chosen completion, summed over its tokens"},
	{Name: PolicyRejectedLogps, Kind: Float, Layout: Paired, Policy: true, Doc: "policy log-prob of the rejected completion, summed over its tokens"},
	{Name: ReferenceChosenLogps, Kind: Float, Layout: Paired, Reference: true, Doc: "reference log-prob of the chosen completion, summed"},
	{Name: ReferenceRejectedLogps, Kind: Float, Layout: Paired, Reference: true, Doc: "reference log-prob of the rejected completion, summed"},
	{Name: ChosenLengths, Kind: Count, Layout: Paired, Doc: "token count of the chosen completion"},
	{Name: RejectedLengths, Kind: Count, Layout: Paired, Doc: "token count of the rejected completion"},
	{Name: PolicyChosenPromptLogps, Kind: Float, Layout: Paired, Policy: true, Doc: "policy log-prob of the chosen prompt tokens, summed"},
	{Name: ChosenPromptLengths, Kind: Count, Layout: Paired, Doc: "number of scored prompt tokens behind policy_chosen_prompt_logps"},
	{Name: PolicyChosenTokenLogps, Kind: TokenFloat, Layout: Paired, Policy: true, Lengths: ChosenLengths, Doc: "policy log-prob of each chosen completion token"},
	{Name: PolicyRejectedTokenLogps, Kind: TokenFloat, Layout: Paired, Policy: true, Lengths: RejectedLengths, Doc: "policy log-prob of each rejected completion token"},
	{Name: ReferenceChosenTokenLogps, Kind: TokenFloat, Layout: Paired, Reference: true, Lengths: ChosenLengths, Doc: "reference log-prob of each chosen completion token"},
	{Name: ReferenceRejectedTokenLogps, Kind: TokenFloat, Layout: Paired, Reference: true, Lengths: RejectedLengths, Doc: "reference log-prob of each rejected completion token"},
	{Name: PolicyChosenWPOLogps, Kind: Float, Layout: Paired, Doc: "WPO weight log of the chosen completion, no gradient: mean over its tokens t of log π(y_t) − log Σ_v π(v)² (TRL use_weighting)"},
	{Name: PolicyRejectedWPOLogps, Kind: Float, Layout: Paired, Doc: "WPO weight log of the rejected completion, no gradient: mean over its tokens t of log π(y_t) − log Σ_v π(v)² (TRL use_weighting)"},
	{Name: PolicyLogps, Kind: Float, Layout: Unpaired, Policy: true, Doc: "policy log-prob of the completion, summed"},
	{Name: ReferenceLogps, Kind: Float, Layout: Unpaired, Reference: true, Doc: "reference log-prob of the completion, summed"},
	{Name: Lengths, Kind: Count, Layout: Unpaired, Doc: "token count of the completion"},
	{Name: Labels, Kind: Bool, Layout: Unpaired, Doc: "true for a desirable completion, false for an undesirable one"},
	{Name: PolicyKLLogps, Kind: Float, Layout: Unpaired, Policy: true, Doc: "policy log-prob of a mismatched completion (prompt i, completion i-1), summed"},
	{Name: ReferenceKLLogps, Kind: Float, Layout: Unpaired, Reference: true, Doc: "reference log-prob of the same mismatched completion, summed"},
	{Name: PolicyTokenLogps, Kind: TokenFloat, Layout: Unpaired, Policy: true, Lengths: Lengths, Doc: "policy log-prob of each completion token"},
	{Name: ReferenceTokenLogps, Kind: TokenFloat, Layout: Unpaired, Reference: true, Lengths: Lengths, Doc: "reference log-prob of each completion token"},
}

// LookupField returns the field with the given name: one of [Fields], or a
// data-column input (see [ColumnOf]).
func LookupField(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	if col, ok := ColumnOf(name); ok {
		return Field{Name: name, Kind: Float, Column: true, Doc: "data column " + col + ", one value per example, no gradient"}, true
	}
	return Field{}, false
}

// InputLess orders input names canonically: [Fields] in their order, then
// data columns by name, then unknown names by name.
func InputLess(a, b string) bool {
	ra, rb := inputRank(a), inputRank(b)
	if ra != rb {
		return ra < rb
	}
	return a < b
}

func inputRank(name string) int {
	if i := slices.IndexFunc(Fields, func(f Field) bool { return f.Name == name }); i >= 0 {
		return i
	}
	if _, ok := ColumnOf(name); ok {
		return len(Fields)
	}
	return len(Fields) + 1
}

// Batch holds the inputs of one objective call. Fields an objective did not
// ask for may be nil. Slices are never modified by an objective.
//
// A per-token input (Kind TokenFloat) holds one array per example whose
// length is that example's entry of the input's Lengths count input.
// Data-column inputs live in Columns, sorted by name.
type Batch struct {
	PolicyChosenLogps       []float64 `json:"policy_chosen_logps,omitempty"`
	PolicyRejectedLogps     []float64 `json:"policy_rejected_logps,omitempty"`
	ReferenceChosenLogps    []float64 `json:"reference_chosen_logps,omitempty"`
	ReferenceRejectedLogps  []float64 `json:"reference_rejected_logps,omitempty"`
	ChosenLengths           []int64   `json:"chosen_lengths,omitempty"`
	RejectedLengths         []int64   `json:"rejected_lengths,omitempty"`
	PolicyChosenPromptLogps []float64 `json:"policy_chosen_prompt_logps,omitempty"`
	ChosenPromptLengths     []int64   `json:"chosen_prompt_lengths,omitempty"`

	PolicyChosenTokenLogps      [][]float64 `json:"policy_chosen_token_logps,omitempty"`
	PolicyRejectedTokenLogps    [][]float64 `json:"policy_rejected_token_logps,omitempty"`
	ReferenceChosenTokenLogps   [][]float64 `json:"reference_chosen_token_logps,omitempty"`
	ReferenceRejectedTokenLogps [][]float64 `json:"reference_rejected_token_logps,omitempty"`
	PolicyChosenWPOLogps        []float64   `json:"policy_chosen_wpo_logps,omitempty"`
	PolicyRejectedWPOLogps      []float64   `json:"policy_rejected_wpo_logps,omitempty"`

	PolicyLogps      []float64 `json:"policy_logps,omitempty"`
	ReferenceLogps   []float64 `json:"reference_logps,omitempty"`
	Lengths          []int64   `json:"lengths,omitempty"`
	Labels           []bool    `json:"labels,omitempty"`
	PolicyKLLogps    []float64 `json:"policy_kl_logps,omitempty"`
	ReferenceKLLogps []float64 `json:"reference_kl_logps,omitempty"`

	PolicyTokenLogps    [][]float64 `json:"policy_token_logps,omitempty"`
	ReferenceTokenLogps [][]float64 `json:"reference_token_logps,omitempty"`

	// Columns holds the data-column inputs, sorted by Name; use SetColumn
	// and Floats. In JSON each is a top-level key.
	Columns []Column `json:"-"`
}

// Column is one data-column input of a batch.
type Column struct {
	Name   string // input name, "column.<key>"
	Values []float64
}

// Floats returns a pointer to the float input with the given name, or nil if
// name is not a float input or is a data column absent from b. A pointer to
// a data column is valid until the next SetColumn.
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
	case PolicyChosenWPOLogps:
		return &b.PolicyChosenWPOLogps
	case PolicyRejectedWPOLogps:
		return &b.PolicyRejectedWPOLogps
	case PolicyLogps:
		return &b.PolicyLogps
	case ReferenceLogps:
		return &b.ReferenceLogps
	case PolicyKLLogps:
		return &b.PolicyKLLogps
	case ReferenceKLLogps:
		return &b.ReferenceKLLogps
	}
	if i, ok := b.columnIndex(name); ok {
		return &b.Columns[i].Values
	}
	return nil
}

// Tokens returns a pointer to the per-token input with the given name, or
// nil if name is not a per-token input.
func (b *Batch) Tokens(name string) *[][]float64 {
	switch name {
	case PolicyChosenTokenLogps:
		return &b.PolicyChosenTokenLogps
	case PolicyRejectedTokenLogps:
		return &b.PolicyRejectedTokenLogps
	case ReferenceChosenTokenLogps:
		return &b.ReferenceChosenTokenLogps
	case ReferenceRejectedTokenLogps:
		return &b.ReferenceRejectedTokenLogps
	case PolicyTokenLogps:
		return &b.PolicyTokenLogps
	case ReferenceTokenLogps:
		return &b.ReferenceTokenLogps
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

// SetColumn sets the data-column input name (see [ColumnInput]) to values,
// replacing any previous values; nil values remove it. It panics if name
// is not a data-column input name.
func (b *Batch) SetColumn(name string, values []float64) {
	if _, ok := ColumnOf(name); !ok {
		panic("core: SetColumn: " + name + " is not a data-column input name")
	}
	i, found := b.columnIndex(name)
	switch {
	case found && values == nil:
		b.Columns = slices.Delete(b.Columns, i, i+1)
	case found:
		b.Columns[i].Values = values
	case values != nil:
		b.Columns = slices.Insert(b.Columns, i, Column{Name: name, Values: values})
	}
}

// columnIndex returns the position of the named column in b.Columns, or
// where it would be inserted.
func (b *Batch) columnIndex(name string) (int, bool) {
	return slices.BinarySearchFunc(b.Columns, name, func(c Column, n string) int { return strings.Compare(c.Name, n) })
}

// Len returns the number of examples of the named input (0 if absent): for
// a per-token input, the number of arrays.
func (b *Batch) Len(name string) int {
	if p := b.Floats(name); p != nil {
		return len(*p)
	}
	if p := b.Tokens(name); p != nil {
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
	if p := b.Tokens(name); p != nil {
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
		case TokenFloat:
			*c.Tokens(f.Name) = cloneRagged(*b.Tokens(f.Name))
		case Count:
			*c.Counts(f.Name) = slices.Clone(*b.Counts(f.Name))
		case Bool:
			*c.Bools(f.Name) = slices.Clone(*b.Bools(f.Name))
		}
	}
	if b.Columns != nil {
		c.Columns = make([]Column, len(b.Columns))
		for i, col := range b.Columns {
			c.Columns[i] = Column{Name: col.Name, Values: slices.Clone(col.Values)}
		}
	}
	return c
}

func cloneRagged(xs [][]float64) [][]float64 {
	if xs == nil {
		return nil
	}
	out := make([][]float64, len(xs))
	for i, x := range xs {
		out[i] = slices.Clone(x)
	}
	return out
}

// Size returns the number of examples of the given layout: the length of the
// first present input of that layout among [Fields].
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
// floats are finite and counts non-negative. A per-token input needs its
// Lengths input named too, and its array for example i must hold exactly
// that input's entry i values (CodeLengthMismatch, Index i). Data columns
// have the length of the layout of the other inputs. Inputs not named are
// ignored. It returns a *InputError naming the field and the index of the
// first problem (for a per-token input, the example; the message names the
// token).
func (b *Batch) Check(inputs []string) error {
	size := map[Layout]int{}
	first := map[Layout]string{}
	var columns []string
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
		if f.Column {
			columns = append(columns, name)
		} else {
			if prev, ok := size[f.Layout]; ok && prev != n {
				return &InputError{Code: CodeLengthMismatch, Field: name, Index: -1,
					Msg: fmt.Sprintf("has %d elements but %s has %d", n, first[f.Layout], prev)}
			}
			size[f.Layout], first[f.Layout] = n, name
		}
		switch f.Kind {
		case Float:
			if i := firstNonFinite(*b.Floats(name)); i >= 0 {
				return &InputError{Code: CodeNonFinite, Field: name, Index: i, Value: (*b.Floats(name))[i], Msg: "not finite"}
			}
		case TokenFloat:
			if !slices.Contains(inputs, f.Lengths) {
				return &InputError{Code: CodeMissingInput, Field: f.Lengths, Index: -1,
					Msg: "the objective reads " + name + " and must read its lengths too"}
			}
		case Count:
			for i, v := range *b.Counts(name) {
				if v < 0 {
					return &InputError{Code: CodeOutOfRange, Field: name, Index: i, Value: float64(v), Msg: "negative token count"}
				}
			}
		}
	}
	// Per-token shapes, once the lengths are known to be valid.
	for _, name := range inputs {
		if f, _ := LookupField(name); f.Kind == TokenFloat {
			if err := checkRagged(name, *b.Tokens(name), *b.Counts(f.Lengths), f.Lengths); err != nil {
				return err
			}
		}
	}
	if len(columns) > 0 {
		layout, n := Layout(0), 0
		for _, l := range []Layout{Paired, Unpaired} {
			if m, ok := size[l]; ok {
				layout, n = l, m
				break
			}
		}
		for _, name := range columns {
			if m := b.Len(name); layout != 0 && m != n {
				return &InputError{Code: CodeLengthMismatch, Field: name, Index: -1,
					Msg: fmt.Sprintf("has %d elements but %s has %d", m, first[layout], n)}
			}
		}
	}
	return nil
}

// checkRagged checks that rows[i] holds lengths[i] finite values.
func checkRagged(name string, rows [][]float64, lengths []int64, lengthsName string) error {
	for i, row := range rows {
		if int64(len(row)) != lengths[i] {
			return &InputError{Code: CodeLengthMismatch, Field: name, Index: i,
				Msg: fmt.Sprintf("has %d tokens but %s[%d] is %d", len(row), lengthsName, i, lengths[i])}
		}
		if t := firstNonFinite(row); t >= 0 {
			return &InputError{Code: CodeNonFinite, Field: name, Index: i, Value: row[t],
				Msg: fmt.Sprintf("token %d not finite", t)}
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
// [Fields] and [ColumnPrefix]) into a Batch: arrays of numbers or bools, and
// arrays of arrays of numbers for per-token inputs. Unknown keys and
// trailing data are errors; the messages name the key.
func DecodeBatchJSON(r io.Reader) (*Batch, error) {
	dec := json.NewDecoder(r)
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return nil, fmt.Errorf("batch: want a JSON object of named arrays, got JSON %s", te.Value)
		case errors.As(err, &se):
			return nil, fmt.Errorf("batch: invalid JSON at byte %d: %w", se.Offset, err)
		case errors.Is(err, io.EOF):
			return nil, errors.New("batch: empty input: want a JSON object of named arrays")
		}
		return nil, fmt.Errorf("batch: %w", err)
	}
	if raw == nil {
		return nil, errors.New("batch: want a JSON object of named arrays, got null")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("batch: trailing data after the JSON object")
	}
	b := &Batch{}
	if err := b.decodeFields(raw); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeFields decodes the named arrays of raw into b, in key order.
func (b *Batch) decodeFields(raw map[string]json.RawMessage) error {
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		var dst any
		if p := b.Floats(name); p != nil {
			dst = p
		} else if p := b.Tokens(name); p != nil {
			dst = p
		} else if p := b.Counts(name); p != nil {
			dst = p
		} else if p := b.Bools(name); p != nil {
			dst = p
		} else if _, ok := ColumnOf(name); ok {
			var v []float64
			if err := decodeField(name, raw[name], &v); err != nil {
				return err
			}
			b.SetColumn(name, nonNilFloats(v))
			continue
		} else {
			return fmt.Errorf("batch: unknown field %q (known: %s, and %s<key> for data columns)",
				name, strings.Join(fieldNames(), ", "), ColumnPrefix)
		}
		if err := decodeField(name, raw[name], dst); err != nil {
			return err
		}
	}
	return nil
}

func decodeField(name string, raw json.RawMessage, dst any) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("batch: field %s: cannot use JSON %s as %s", name, te.Value, te.Type)
		}
		return fmt.Errorf("batch: field %s: %w", name, err)
	}
	return nil
}

func nonNilFloats(v []float64) []float64 {
	if v == nil {
		return []float64{}
	}
	return v
}

// batchFields has the JSON layout of Batch without its methods.
type batchFields Batch

// MarshalJSON writes b as one object of named arrays; data columns are
// top-level keys after the fixed-name inputs.
func (b Batch) MarshalJSON() ([]byte, error) {
	out, err := json.Marshal(batchFields(b))
	if err != nil || len(b.Columns) == 0 {
		return out, err
	}
	var buf bytes.Buffer
	buf.Write(out[:len(out)-1])
	for i, c := range b.Columns {
		if i > 0 || len(out) > 2 {
			buf.WriteByte(',')
		}
		key, _ := json.Marshal(c.Name)
		vals, err := json.Marshal(nonNilFloats(c.Values))
		if err != nil {
			return nil, fmt.Errorf("batch: field %s: %w", c.Name, err)
		}
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(vals)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads an object of named arrays as [DecodeBatchJSON] does.
func (b *Batch) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	*b = Batch{}
	return b.decodeFields(raw)
}

func fieldNames() []string {
	names := make([]string, len(Fields))
	for i, f := range Fields {
		names[i] = f.Name
	}
	return names
}
