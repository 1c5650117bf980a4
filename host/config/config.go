// Package config reads the experiment file: a strict TOML document whose
// sections configure the run, the model, the tokenizer, the data, the
// reference model, the optimizer, the training loop and the objectives.
//
// Decoding is strict: a key the package does not know is an error naming the
// key and its line, and so is a key spelt with the wrong case. Values not
// given take the defaults of [Defaults] and [ObjectiveDefaults]. Objective
// parameters and the [task] table are not interpreted here: parameters are
// kept as plain Go values for the objective's spec to resolve, and the task
// table is decoded by its package through [Experiment.DecodeTask].
package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Experiment is a parsed, defaulted and validated experiment file.
//
// An Experiment is not safe for concurrent use: DecodeTask updates the
// decoder state it shares with Parse.
type Experiment struct {
	Run        Run         `toml:"run"`
	Model      Model       `toml:"model"`
	Tokenizer  Tokenizer   `toml:"tokenizer"`
	Data       Data        `toml:"data"`
	Reference  Reference   `toml:"reference"`
	Optimizer  Optimizer   `toml:"optimizer"`
	Train      Train       `toml:"train"`
	Objectives []Objective `toml:"objective"`

	// Task is the [task] table, nil when absent. Decode it with DecodeTask.
	Task *toml.Primitive `toml:"task"`
	// Sweep is the [sweep] table as written, nil when absent. Parse has
	// already expanded it into Objectives.
	Sweep *Sweep `toml:"sweep"`

	name string
	sft  bool // objectives are optional
	md   toml.MetaData
}

// Run names the run and seeds it.
type Run struct {
	Name      string `toml:"name"`
	Seed      Seed   `toml:"seed"`
	OutputDir string `toml:"output_dir"`
}

// Seed is the run's random seed: a non-negative TOML integer.
type Seed uint64

// UnmarshalTOML rejects negative integers, which the TOML decoder would
// otherwise wrap around.
func (s *Seed) UnmarshalTOML(v any) error {
	n, ok := v.(int64)
	if !ok {
		return fmt.Errorf("run.seed must be an integer, got %s", tomlType(v))
	}
	if n < 0 {
		return fmt.Errorf("run.seed must be >= 0, got %d", n)
	}
	*s = Seed(n)
	return nil
}

// Model gives the transformer's shape.
type Model struct {
	Vocab   int    `toml:"vocab"`
	Context int    `toml:"context"`
	Width   int    `toml:"width"`
	Heads   int    `toml:"heads"`
	Layers  int    `toml:"layers"`
	MLPMult int    `toml:"mlp_mult"`
	DType   string `toml:"dtype"`
	Init    string `toml:"init"`
}

// Tokenizer selects the tokenizer.
type Tokenizer struct {
	Kind    string `toml:"kind"`
	Symbols string `toml:"symbols"`
	AddEOS  bool   `toml:"add_eos"`
}

// Data locates and shapes the preference data.
type Data struct {
	Train           string  `toml:"train"`
	Eval            string  `toml:"eval"`
	Format          string  `toml:"format"`
	EvalFraction    float64 `toml:"eval_fraction"`
	MaxLength       int     `toml:"max_length"`
	MaxPromptLength int     `toml:"max_prompt_length"`
	TruncationMode  string  `toml:"truncation_mode"`
}

// Reference configures the frozen reference model.
type Reference struct {
	Checkpoint string `toml:"checkpoint"`
	Cache      bool   `toml:"cache"`
}

// Optimizer configures AdamW.
type Optimizer struct {
	Name        string  `toml:"name"`
	LR          float64 `toml:"lr"`
	Beta1       float64 `toml:"beta1"`
	Beta2       float64 `toml:"beta2"`
	Eps         float64 `toml:"eps"`
	WeightDecay float64 `toml:"weight_decay"`
	MaxGradNorm float64 `toml:"max_grad_norm"`
}

// Train configures the loop. Steps > 0 fixes the number of optimizer steps;
// otherwise Epochs passes over the training data are made. WarmupSteps > 0
// wins over WarmupRatio.
type Train struct {
	Steps           int     `toml:"steps"`
	Epochs          int     `toml:"epochs"`
	BatchSize       int     `toml:"batch_size"`
	WarmupSteps     int     `toml:"warmup_steps"`
	WarmupRatio     float64 `toml:"warmup_ratio"`
	Schedule        string  `toml:"schedule"`
	MinLRRatio      float64 `toml:"min_lr_ratio"`
	LogEvery        int     `toml:"log_every"`
	EvalEvery       int     `toml:"eval_every"`
	CheckpointEvery int     `toml:"checkpoint_every"`
	KeepCheckpoints int     `toml:"keep_checkpoints"`
}

// WarmupFor returns the warmup length in optimizer steps for a run of
// total steps: WarmupSteps if > 0, else ceil(total·WarmupRatio), as
// transformers' TrainingArguments.get_warmup_steps.
func (t Train) WarmupFor(total int) int {
	if t.WarmupSteps > 0 {
		return t.WarmupSteps
	}
	return int(math.Ceil(float64(total) * t.WarmupRatio))
}

// Objective is one [[objective]] entry, defaults filled in.
type Objective struct {
	Name        string        `toml:"name"`
	Path        string        `toml:"path"`
	Label       string        `toml:"label"`
	SHA256      string        `toml:"sha256"`
	AutoMTLS    bool          `toml:"auto_mtls"`
	InProcess   bool          `toml:"in_process"`
	Timeout     time.Duration `toml:"timeout"`
	MaxAttempts int           `toml:"max_attempts"`
	OnBadReply  string        `toml:"on_bad_reply"`
	// Params holds the params table as plain Go values (float64, int64,
	// bool, string), sweep values included. The objective's spec resolves
	// them.
	Params map[string]any `toml:"params"`
}

// rawObjective is an [[objective]] entry as decoded: pointers tell absent
// keys from zero values, params wait as a Primitive.
type rawObjective struct {
	Name        *string        `toml:"name"`
	Path        *string        `toml:"path"`
	Label       *string        `toml:"label"`
	SHA256      *string        `toml:"sha256"`
	AutoMTLS    *bool          `toml:"auto_mtls"`
	InProcess   *bool          `toml:"in_process"`
	Timeout     *time.Duration `toml:"timeout"`
	MaxAttempts *int           `toml:"max_attempts"`
	OnBadReply  *string        `toml:"on_bad_reply"`
	Params      toml.Primitive `toml:"params"`
}

// Sweep expands objectives over values of one parameter.
type Sweep struct {
	Param      string    `toml:"param"`
	Values     []float64 `toml:"values"`
	Objectives []string  `toml:"objectives"`
}

// document is the decoding target: the experiment with raw objectives.
type document struct {
	Run        *Run            `toml:"run"`
	Model      *Model          `toml:"model"`
	Tokenizer  *Tokenizer      `toml:"tokenizer"`
	Data       *Data           `toml:"data"`
	Reference  *Reference      `toml:"reference"`
	Optimizer  *Optimizer      `toml:"optimizer"`
	Train      *Train          `toml:"train"`
	Objectives []rawObjective  `toml:"objective"`
	Task       *toml.Primitive `toml:"task"`
	Sweep      *Sweep          `toml:"sweep"`
}

// Load reads, parses and validates the experiment file at path.
func Load(path string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// LoadSFT is Load for supervised fine-tuning: [[objective]] entries are
// optional (and unused).
func LoadSFT(path string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, path, true)
}

// Parse decodes an experiment file, fills defaults, expands the sweep and
// validates the result. name labels error messages (usually the path).
func Parse(data []byte, name string) (*Experiment, error) { return parse(data, name, false) }

func parse(data []byte, name string, sft bool) (*Experiment, error) {
	e := Defaults()
	e.name, e.sft = name, sft
	doc := document{
		Run: &e.Run, Model: &e.Model, Tokenizer: &e.Tokenizer, Data: &e.Data,
		Reference: &e.Reference, Optimizer: &e.Optimizer, Train: &e.Train,
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&doc)
	if err != nil {
		return nil, e.decodeError(err)
	}
	e.md = md
	e.Task, e.Sweep = doc.Task, doc.Sweep
	if err := e.checkKeys(data); err != nil {
		return nil, err
	}
	var errs []error
	for i, raw := range doc.Objectives {
		o, err := e.objective(i, raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.Objectives = append(e.Objectives, o)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := e.expandSweep(); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Name returns the name the experiment was parsed under.
func (e *Experiment) Name() string { return e.name }

// errorf formats a problem with the experiment: "config: NAME: MSG".
func (e *Experiment) errorf(format string, a ...any) error {
	if e.name == "" {
		return fmt.Errorf("config: "+format, a...)
	}
	return fmt.Errorf("config: %s: "+format, append([]any{e.name}, a...)...)
}

// positionError shows a TOML parse error with its line, column and the
// offending source lines.
type positionError struct{ pe toml.ParseError }

func (p positionError) Error() string { return strings.TrimRight(p.pe.ErrorWithPosition(), "\n") }
func (p positionError) Unwrap() error { return p.pe }

func (e *Experiment) decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("config: %s:%d:%d: %w", e.name, pe.Position.Line, pe.Position.Col, positionError{pe})
	}
	return fmt.Errorf("config: %s: %w", e.name, err)
}

// lateKeys are tables decoded after Parse by their owners; their contents
// are not checked against the experiment's schema.
var lateKeys = []toml.Key{{"task"}, {"objective", "params"}}

func underLate(k toml.Key) bool {
	for _, p := range lateKeys {
		if len(k) > len(p) && slices.Equal(k[:len(p)], p) {
			return true
		}
	}
	return false
}

// checkKeys reports every key that was not decoded, and every key whose case
// differs from the schema's (the decoder matches struct fields ignoring
// case), with its line.
func (e *Experiment) checkKeys(data []byte) error {
	known := schemaKeys()
	undecoded := map[string]bool{}
	for _, k := range e.md.Undecoded() {
		undecoded[k.String()] = true
	}
	var bad []toml.Key
	seen := map[string]bool{}
	for _, k := range e.md.Keys() {
		if underLate(k) || seen[k.String()] || !undecoded[k.String()] && known[k.String()] {
			continue
		}
		seen[k.String()] = true
		if !slices.ContainsFunc(bad, func(b toml.Key) bool { return len(b) < len(k) && slices.Equal(b, k[:len(b)]) }) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	errs := make([]error, 0, len(bad))
	for _, k := range bad {
		line := keyLine(data, &e.md, k)
		hint := ""
		if s := caseMatch(known, k); s != "" {
			hint = fmt.Sprintf(" (keys are case-sensitive: did you mean %s?)", s)
		}
		if line > 0 {
			errs = append(errs, fmt.Errorf("config: %s:%d: unknown key %s%s", e.name, line, k, hint))
		} else {
			errs = append(errs, fmt.Errorf("config: %s: unknown key %s%s", e.name, k, hint))
		}
	}
	return errors.Join(errs...)
}

// schemaKeys lists every key path of the document type, by toml tag.
func schemaKeys() map[string]bool {
	known := map[string]bool{}
	var walk func(prefix toml.Key, t reflect.Type)
	walk = func(prefix toml.Key, t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[toml.Primitive]() {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			k := append(slices.Clone(prefix), tag)
			known[k.String()] = true
			walk(k, f.Type)
		}
	}
	walk(nil, reflect.TypeFor[document]())
	return known
}

// caseMatch returns the schema key equal to k ignoring case, or "".
func caseMatch(known map[string]bool, k toml.Key) string {
	for s := range known {
		if strings.EqualFold(s, k.String()) && s != k.String() {
			return s
		}
	}
	return ""
}

// probeError stops a decode at the probed key.
var probeError = errors.New("probe")

type probe struct{}

func (probe) UnmarshalTOML(any) error { return probeError }

// keyLine finds the line where key k is defined by decoding data again into
// a type whose only field sits at k and fails: the decoder's error carries
// the key's position. (Its column points at the value, or is unreliable for
// table headers, so only the line is used.) Returns 0 when the line cannot
// be found. md is the metadata of data, used to recognise arrays of tables
// on the way.
func keyLine(data []byte, md *toml.MetaData, k toml.Key) int {
	t := reflect.TypeFor[probe]()
	for i := len(k) - 1; i >= 0; i-- {
		if strings.ContainsAny(k[i], ",\"`") {
			return 0
		}
		f := reflect.StructField{Name: "F", Type: t, Tag: reflect.StructTag(`toml:` + strconv.Quote(k[i]))}
		t = reflect.StructOf([]reflect.StructField{f})
		if i > 0 && md.Type(k[:i]...) == "ArrayHash" {
			t = reflect.SliceOf(t)
		}
	}
	_, err := toml.NewDecoder(bytes.NewReader(data)).Decode(reflect.New(t).Interface())
	var pe toml.ParseError
	if !errors.As(err, &pe) || pe.LastKey != k.String() {
		return 0
	}
	return pe.Position.Line
}

// objective fills defaults of entry i and decodes its params.
func (e *Experiment) objective(i int, raw rawObjective) (Objective, error) {
	o := ObjectiveDefaults()
	setIf(&o.Name, raw.Name)
	setIf(&o.Path, raw.Path)
	setIf(&o.SHA256, raw.SHA256)
	setIf(&o.AutoMTLS, raw.AutoMTLS)
	setIf(&o.InProcess, raw.InProcess)
	setIf(&o.Timeout, raw.Timeout)
	setIf(&o.MaxAttempts, raw.MaxAttempts)
	setIf(&o.OnBadReply, raw.OnBadReply)
	switch {
	case raw.Label != nil:
		o.Label = *raw.Label
	case o.Name != "":
		o.Label = o.Name
	case o.Path != "":
		o.Label = strings.TrimSuffix(filepath.Base(o.Path), filepath.Ext(o.Path))
	}
	o.SHA256 = strings.ToLower(o.SHA256)
	o.Params = map[string]any{}
	var table map[string]any
	if err := e.md.PrimitiveDecode(raw.Params, &table); err != nil {
		return o, e.errorf("objective[%d].params: %w", i, err)
	}
	for _, k := range slices.Sorted(maps.Keys(table)) {
		switch v := table[k].(type) {
		case float64, int64, bool, string:
			o.Params[k] = v
		default:
			return o, e.errorf("objective[%d].params.%s must be a number, boolean or string, got %s", i, k, tomlType(v))
		}
	}
	return o, nil
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// tomlType names the TOML type of a decoded value.
func tomlType(v any) string {
	switch v.(type) {
	case float64:
		return "float"
	case int64:
		return "integer"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "table"
	case []any, []map[string]any:
		return "array"
	case time.Time:
		return "datetime"
	}
	return fmt.Sprintf("%T", v)
}

// expandSweep replaces each objective selected by the sweep with one
// objective per value, labelled "<label>/<param>=<value>".
func (e *Experiment) expandSweep() error {
	s := e.Sweep
	if s == nil {
		return nil
	}
	if s.Param == "" {
		return e.errorf("sweep.param must be set")
	}
	if len(s.Values) == 0 {
		return e.errorf("sweep.values must list at least one value")
	}
	for i, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return e.errorf("sweep.values[%d] must be finite, got %v", i, v)
		}
	}
	for i, l := range s.Objectives {
		if !slices.ContainsFunc(e.Objectives, func(o Objective) bool { return o.Label == l }) {
			return e.errorf("sweep.objectives[%d] %q is not an objective label (labels: %s)", i, l, strings.Join(e.labels(), ", "))
		}
	}
	var out []Objective
	for _, o := range e.Objectives {
		if len(s.Objectives) > 0 && !slices.Contains(s.Objectives, o.Label) {
			out = append(out, o)
			continue
		}
		for _, v := range s.Values {
			c := o
			c.Params = maps.Clone(o.Params)
			c.Params[s.Param] = v
			c.Label = fmt.Sprintf("%s/%s=%s", o.Label, s.Param, strconv.FormatFloat(v, 'g', -1, 64))
			out = append(out, c)
		}
	}
	e.Objectives = out
	return nil
}

func (e *Experiment) labels() []string {
	ls := make([]string, len(e.Objectives))
	for i, o := range e.Objectives {
		ls[i] = o.Label
	}
	return ls
}

// DecodeTask decodes the [task] table into v (a pointer, as for
// toml.Decode). Keys of the table that v has no field for are an error
// naming them. It returns an error if there is no [task] table.
func (e *Experiment) DecodeTask(v any) error {
	if e.Task == nil {
		return e.errorf("no [task] table")
	}
	if err := e.md.PrimitiveDecode(*e.Task, v); err != nil {
		return e.errorf("task: %w", err)
	}
	var unknown []string
	for _, k := range e.md.Undecoded() {
		if len(k) > 1 && k[0] == "task" {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return e.errorf("unknown key(s) in [task]: %s", strings.Join(unknown, ", "))
	}
	return nil
}
