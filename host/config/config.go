// Package config reads the experiment file: a strict TOML document whose
// sections configure the run, the model, the tokenizer, the data (or the
// built-in synthetic task), the reference model, the optimizer, the training
// loop and the objectives.
//
// Decoding is strict: a key the package does not know is an error naming the
// key and its line, with the closest known key when one is near ("did you
// mean"), and so is a key spelt with the wrong case, and a section that does
// not apply to the experiment ([data] or [tokenizer] next to [task]; [task],
// [reference], [[objective]] and [sweep] in a fine-tuning file). No setting
// is ignored.
//
// Defaults, one rule: an experiment with a [task] table starts from
// [TaskExperimentDefaults] (the built-in comparison's settings) and its task
// from [TaskDefaults] (the built-in task); any other experiment starts from
// [Defaults]. Every key written overrides its default, one key at a time, so
// a partial [task] or [optimizer] keeps the built-in values of the keys it
// omits. [[objective]] entries start from [ObjectiveDefaults].
//
// Paths, one rule: every path in an experiment file (data.train, data.eval,
// model.init, reference.checkpoint, objective paths and run.output_dir) is
// relative to the directory of the file; Parse stores it made absolute. A
// built-in experiment, which has no file ([ParseBuiltin]), keeps relative
// paths relative to the current directory.
//
// Limits, checked on the bytes before decoding: a file is at most
// [MaxFileSize] bytes, keys and values nest at most [MaxDepth] deep, and a
// string is at most [MaxStringLen] bytes. An experiment trains at most
// [MaxObjectives] objectives, sweep expanded. At most ten unknown keys are
// reported one by one.
//
// [Experiment.Resolved] writes the experiment back as TOML holding every
// value in effect, and nothing that does not apply.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

	"github.com/prefopt/prefopt/host/testbed"
	"github.com/prefopt/prefopt/host/tokenizer"
)

// Experiment is a parsed, defaulted and validated experiment file. Its
// paths are absolute (or, for a built-in experiment, as written).
type Experiment struct {
	Run        Run         `toml:"run"`
	Model      Model       `toml:"model"`
	Tokenizer  Tokenizer   `toml:"tokenizer"`
	Data       Data        `toml:"data"`
	Reference  Reference   `toml:"reference"`
	Optimizer  Optimizer   `toml:"optimizer"`
	Train      Train       `toml:"train"`
	Objectives []Objective `toml:"objective"`

	// Task is the [task] table with the built-in task's defaults filled in,
	// nil when absent: the experiment trains on the synthetic task instead
	// of [data], with the task's own tokenizer.
	Task *Task `toml:"task"`
	// Sweep is the [sweep] table as written, nil when absent. Parse has
	// already expanded it into Objectives.
	Sweep *Sweep `toml:"sweep"`

	path string // the file, or the built-in experiment's name
	sft  bool   // a fine-tuning experiment: no objectives, reference or task
}

// Run names the run and seeds it.
type Run struct {
	Name string `toml:"name"`
	// Description says in a sentence what the experiment tests; reports
	// and the benchmark's leaderboard show it.
	Description string `toml:"description"`
	Seed        Seed   `toml:"seed"`
	// Seeds is the number of seeds every objective is trained with:
	// run.seed, run.seed+1, … Each seed draws its own task, pairs,
	// reference and initialisation (the task's seed moves with it).
	Seeds     int    `toml:"seeds"`
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
	Symbols string `toml:"symbols,omitempty"` // only for kind = "symbols"
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
	// DropLast drops the last batch of an epoch when it is smaller than
	// BatchSize, as TRL's dataloader_drop_last.
	DropLast bool `toml:"drop_last"`
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

// Sweep expands objectives over values of one parameter, given either as
// Values, the same for every swept objective, or as Scale, multipliers of
// each objective's own value (exactly one of the two).
type Sweep struct {
	Param string `toml:"param"`
	// Values are numbers, strings, booleans or lists of them (e.g. loss
	// types: values = ["sigmoid", "hinge", ["sigmoid", "sft"]]); the
	// objective's spec checks each.
	Values []any `toml:"values"`
	// Scale multiplies each swept objective's own numeric value of Param,
	// which its params must set: objectives whose parameters live on
	// different scales (SimPO's β 2.5, DPO's 0.5) are swept alike. Each
	// factor is finite and > 0; the swept value is a float.
	Scale      []float64 `toml:"scale"`
	Objectives []string  `toml:"objectives"`
	// Base holds, by the label it had before the sweep, each swept
	// objective's value of Param as written (absent when it set none).
	// Parse fills it; it is not a key of the file.
	Base map[string]any `toml:"-"`
}

// SweepLabel splits the label "<group>/<param>=<value>" that a sweep gives
// each of its objectives into group and param; ok is false for a label of
// another form.
func SweepLabel(label string) (group, param string, ok bool) {
	i := strings.LastIndex(label, "/")
	if i <= 0 {
		return "", "", false
	}
	param, _, ok = strings.Cut(label[i+1:], "=")
	if !ok || param == "" {
		return "", "", false
	}
	return label[:i], param, true
}

// SameSweepValue reports whether two parameter values render alike in a
// sweep label (so 1 and 1.0 are the same value).
func SameSweepValue(a, b any) bool {
	la, errA := sweepLabel(a)
	lb, errB := sweepLabel(b)
	return errA == nil && errB == nil && la == lb
}

// Task is the [task] table: the built-in synthetic task, plus how its
// reference model is made. Its tokenizer is one symbol per letter a, b, c,
// ... of the alphabet, plus the special <eos> (id alphabet) with
// variable_length and no other special token.
type Task struct {
	testbed.Config
	// Demonstrations is the number of supervised rows the reference is
	// trained on.
	Demonstrations int `toml:"demonstrations"`
	// SFTSteps, SFTBatch and SFTLR configure the reference's supervised
	// training (AdamW, constant learning rate); SFTSteps = 0 keeps the
	// starting policy as the reference.
	SFTSteps int     `toml:"sft_steps"`
	SFTBatch int     `toml:"sft_batch"`
	SFTLR    float64 `toml:"sft_lr"`
	// FrontierBetas are the β′ of the exact optimal reward–KL frontier.
	FrontierBetas []float64 `toml:"frontier_betas"`
	// DesirableKeep is the fraction of desirable examples kept when the
	// training pairs are unpaired for an unpaired objective (KTO): that
	// fraction of the chosen completions, drawn without replacement, and
	// every rejected one. Paired objectives keep every pair.
	DesirableKeep float64 `toml:"desirable_keep"`
}

// TaskSymbols is the alphabet the task's token ids are shown with: task id
// i is the letter TaskSymbols[i].
const TaskSymbols = "abcdefghijklmnopqrstuvwxyz"

// document is the decoding target: each section waits as a Primitive until
// the defaults it starts from are known.
type document struct {
	Run        *toml.Primitive `toml:"run"`
	Model      *toml.Primitive `toml:"model"`
	Tokenizer  *toml.Primitive `toml:"tokenizer"`
	Data       *toml.Primitive `toml:"data"`
	Reference  *toml.Primitive `toml:"reference"`
	Optimizer  *toml.Primitive `toml:"optimizer"`
	Train      *toml.Primitive `toml:"train"`
	Objectives []rawObjective  `toml:"objective"`
	Task       *toml.Primitive `toml:"task"`
	Sweep      *Sweep          `toml:"sweep"`
}

// schema is the document with every section typed: the keys it knows.
type schema struct {
	Run        Run            `toml:"run"`
	Model      Model          `toml:"model"`
	Tokenizer  Tokenizer      `toml:"tokenizer"`
	Data       Data           `toml:"data"`
	Reference  Reference      `toml:"reference"`
	Optimizer  Optimizer      `toml:"optimizer"`
	Train      Train          `toml:"train"`
	Objectives []rawObjective `toml:"objective"`
	Task       Task           `toml:"task"`
	Sweep      Sweep          `toml:"sweep"`
}

// Load reads, parses and validates the experiment file at path. Relative
// paths in the file resolve from its directory.
func Load(path string) (*Experiment, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data, path, false, false)
}

// LoadSFT is Load for supervised fine-tuning: the file has no
// [[objective]], [sweep], [reference] or [task], and of [data] only train,
// eval, eval_fraction and max_length apply.
func LoadSFT(path string) (*Experiment, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data, path, true, false)
}

// readFile reads at most MaxFileSize+1 bytes of path, so that a larger
// file is refused without being read whole.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return data, nil
}

// Parse decodes the experiment file at path whose content is data, fills
// defaults, expands the sweep, validates the result and makes its paths
// absolute, relative to the directory of path. path also labels error
// messages.
func Parse(data []byte, path string) (*Experiment, error) { return parse(data, path, false, false) }

// ParseSFT is Parse for a fine-tuning file, as LoadSFT.
func ParseSFT(data []byte, path string) (*Experiment, error) { return parse(data, path, true, false) }

// ParseBuiltin is Parse for an experiment that has no file, such as the
// built-in comparison: name labels error messages, and relative paths stay
// relative, that is, resolve from the current directory.
func ParseBuiltin(data []byte, name string) (*Experiment, error) {
	return parse(data, name, false, true)
}

func parse(data []byte, path string, sft, builtin bool) (*Experiment, error) {
	e := &Experiment{path: path, sft: sft}
	if err := checkLimits(data); err != nil {
		if le, ok := err.(limitError); ok && le.line > 0 {
			return nil, fmt.Errorf("config: %s:%d: %w", path, le.line, err)
		}
		return nil, e.errorf("%w", err)
	}
	var doc document
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&doc)
	if err != nil {
		return nil, e.decodeError(err)
	}
	if doc.Task != nil {
		*e = TaskExperimentDefaults()
		e.Task = new(Task)
		*e.Task = TaskDefaults()
	} else {
		*e = Defaults()
	}
	e.path, e.sft = path, sft
	for _, sec := range []struct {
		p *toml.Primitive
		v any
	}{
		{doc.Run, &e.Run}, {doc.Model, &e.Model}, {doc.Tokenizer, &e.Tokenizer}, {doc.Data, &e.Data},
		{doc.Reference, &e.Reference}, {doc.Optimizer, &e.Optimizer}, {doc.Train, &e.Train}, {doc.Task, e.Task},
	} {
		if sec.p == nil {
			continue
		}
		if err := md.PrimitiveDecode(*sec.p, sec.v); err != nil {
			return nil, e.decodeError(err)
		}
	}
	e.Sweep = doc.Sweep
	if err := e.checkKeys(data, &md); err != nil {
		return nil, err
	}
	if err := e.checkApplies(data, &md); err != nil {
		return nil, err
	}
	var errs []error
	for i, raw := range doc.Objectives {
		o, err := e.objective(&md, i, raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.Objectives = append(e.Objectives, o)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(e.Objectives) > MaxObjectives {
		return nil, e.errorf("%d [[objective]] entries are more than the limit of %d (MaxObjectives)", len(e.Objectives), MaxObjectives)
	}
	if err := e.expandSweep(); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	e.fillVocab()
	if !builtin {
		if err := e.resolvePaths(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Path returns the path of the experiment's file as given to Load or Parse,
// or the name of a built-in experiment.
func (e *Experiment) Path() string { return e.path }

// resolvePaths makes every relative path of the experiment absolute,
// relative to the directory of its file.
func (e *Experiment) resolvePaths() error {
	dir, err := filepath.Abs(filepath.Dir(e.path))
	if err != nil {
		return e.errorf("resolving paths: %w", err)
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&e.Run.OutputDir)
	abs(&e.Model.Init)
	abs(&e.Data.Train)
	abs(&e.Data.Eval)
	abs(&e.Reference.Checkpoint)
	for i := range e.Objectives {
		abs(&e.Objectives[i].Path)
	}
	return nil
}

// fillVocab sets a model.vocab of 0 to the size of the experiment's
// tokenizer, the value in effect. Validate has checked the tokenizer.
func (e *Experiment) fillVocab() {
	if e.Model.Vocab != 0 {
		return
	}
	if n, err := e.vocabSize(); err == nil {
		e.Model.Vocab = n
	}
}

// vocabSize is the size of the tokenizer the experiment uses.
func (e *Experiment) vocabSize() (int, error) {
	if e.Task != nil {
		return e.Task.Vocab(), nil
	}
	tok, err := e.Tokenizer.New()
	if err != nil {
		return 0, err
	}
	return tok.Size(), nil
}

// New builds the tokenizer t describes: kind "byte" (with EOS unless
// add_eos = false) or "symbols" (with EOS as its only special token when
// add_eos = true).
func (t Tokenizer) New() (tokenizer.Tokenizer, error) {
	switch t.Kind {
	case "byte":
		if !t.AddEOS {
			return tokenizer.NewBytesNoEOS(), nil
		}
		return tokenizer.NewBytes(), nil
	case "symbols":
		var specials []tokenizer.Special
		if t.AddEOS {
			specials = append(specials, tokenizer.EOS)
		}
		return tokenizer.NewSymbols(t.Symbols, specials...)
	}
	return nil, fmt.Errorf("config: tokenizer.kind must be one of \"byte\", \"symbols\", got %q", t.Kind)
}

// errorf formats a problem with the experiment: "config: NAME: MSG".
func (e *Experiment) errorf(format string, a ...any) error {
	if e.path == "" {
		return fmt.Errorf("config: "+format, a...)
	}
	return fmt.Errorf("config: %s: "+format, append([]any{e.path}, a...)...)
}

// positionError shows a TOML parse error with its line, column and the
// offending source lines.
type positionError struct{ pe toml.ParseError }

func (p positionError) Error() string { return strings.TrimRight(p.pe.ErrorWithPosition(), "\n") }
func (p positionError) Unwrap() error { return p.pe }

func (e *Experiment) decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("config: %s:%d:%d: %w", e.path, pe.Position.Line, pe.Position.Col, positionError{pe})
	}
	return fmt.Errorf("config: %s: %w", e.path, err)
}

// lateKeys are tables whose contents are not checked against the
// experiment's schema: objective parameters, which the objective's spec
// resolves.
var lateKeys = []toml.Key{{"objective", "params"}}

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
// case), with its line and the closest known key.
func (e *Experiment) checkKeys(data []byte, md *toml.MetaData) error {
	known := schemaKeys()
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	var bad []toml.Key
	seen := map[string]bool{} // keys already reported, and their parents
	for _, k := range md.Keys() {
		if underLate(k) || seen[k.String()] || !undecoded[k.String()] && known[k.String()] {
			continue
		}
		reported := false
		for i := 1; i < len(k) && !reported; i++ {
			reported = seen[k[:i].String()]
		}
		seen[k.String()] = true
		if !reported {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	errs := make([]error, 0, min(len(bad), maxReported)+1)
	for _, k := range bad[:min(len(bad), maxReported)] {
		hint := ""
		if s := caseMatch(known, k); s != "" {
			hint = fmt.Sprintf(" (keys are case-sensitive: did you mean %s?)", s)
		} else if s, ok := closest(k[len(k)-1], siblings(known, k)); ok {
			hint = fmt.Sprintf(" (did you mean %s?)", append(k[:len(k)-1:len(k)-1], s))
		} else if len(k) == 2 && k[0] == "objective" {
			hint = fmt.Sprintf(" (objective parameters go in [objective.params]: objective.params.%s)", k[1])
		}
		errs = append(errs, e.lineErrorf(data, md, k, "unknown key %s%s", k, hint))
	}
	if n := len(bad) - maxReported; n > 0 {
		errs = append(errs, e.errorf("and %d more unknown keys", n))
	}
	return errors.Join(errs...)
}

// maxReported bounds the unknown keys reported one by one: finding a key's
// line decodes the file again.
const maxReported = 10

// lineErrorf is errorf with the line of key k when it can be found:
// "config: NAME:LINE: MSG".
func (e *Experiment) lineErrorf(data []byte, md *toml.MetaData, k toml.Key, format string, a ...any) error {
	if line := keyLine(data, md, k); line > 0 {
		return fmt.Errorf("config: %s:%d: "+format, append([]any{e.path, line}, a...)...)
	}
	return e.errorf(format, a...)
}

// siblings returns the last parts of the known keys with the same parent
// as k.
func siblings(known map[string]bool, k toml.Key) []string {
	parent := k[:len(k)-1].String()
	var out []string
	for s := range known {
		i := strings.LastIndexByte(s, '.')
		if (i < 0 && parent == "") || (i >= 0 && s[:i] == parent) {
			out = append(out, s[i+1:])
		}
	}
	slices.Sort(out)
	return out
}

// checkApplies refuses the sections and keys that the experiment would
// not use: [data] and [tokenizer] beside [task], and in a fine-tuning
// experiment everything that only preference training reads.
func (e *Experiment) checkApplies(data []byte, md *toml.MetaData) error {
	type rule struct {
		key toml.Key
		why string
	}
	var rules []rule
	if e.Task != nil {
		rules = append(rules,
			rule{toml.Key{"data"}, "[data] does not apply to an experiment with [task]: the task makes its own rows, never truncated"},
			rule{toml.Key{"tokenizer"}, "[tokenizer] does not apply to an experiment with [task]: the task's tokenizer is one letter per task.alphabet symbol"},
		)
	}
	if e.sft {
		for _, k := range []string{"objective", "sweep", "reference", "task"} {
			section := "[" + k + "]"
			if k == "objective" {
				section = "[[objective]]"
			}
			rules = append(rules, rule{toml.Key{k}, section + " does not apply to supervised fine-tuning"})
		}
		for _, k := range []string{"format", "max_prompt_length", "truncation_mode"} {
			rules = append(rules, rule{toml.Key{"data", k}, fmt.Sprintf("data.%s does not apply to supervised fine-tuning (texts keep their start, up to data.max_length)", k)})
		}
	}
	var errs []error
	for _, r := range rules {
		if md.IsDefined(r.key...) {
			errs = append(errs, e.lineErrorf(data, md, r.key, "%s", r.why))
		}
	}
	return errors.Join(errs...)
}

// schemaKeys lists every key path of the schema, by toml tag. The fields of
// an embedded struct belong to the struct that embeds it.
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
			if f.Anonymous {
				walk(prefix, f.Type)
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			k := append(slices.Clone(prefix), tag)
			known[k.String()] = true
			walk(k, f.Type)
		}
	}
	walk(nil, reflect.TypeFor[schema]())
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
func (e *Experiment) objective(md *toml.MetaData, i int, raw rawObjective) (Objective, error) {
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
	if err := md.PrimitiveDecode(raw.Params, &table); err != nil {
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

// sweepLabel renders a sweep value for an objective's label: a number as
// Go's shortest form, a string or bool as written, a list as its elements
// joined by "+". Non-finite numbers, tables and nested lists are errors.
func sweepLabel(v any) (string, error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("must be finite, got %v", x)
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case string:
		if x == "" {
			return "", fmt.Errorf("must not be an empty string")
		}
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if _, nested := e.([]any); nested {
				return "", fmt.Errorf("element %d: a list inside a list is not a parameter value", i)
			}
			p, err := sweepLabel(e)
			if err != nil {
				return "", fmt.Errorf("element %d: %v", i, err)
			}
			parts[i] = p
		}
		return strings.Join(parts, "+"), nil
	}
	return "", fmt.Errorf("must be a number, string, boolean or a list of them, got %s", tomlType(v))
}

// expandSweep replaces each objective selected by the sweep with one
// objective per value (or per scale factor), labelled
// "<label>/<param>=<value>", and records the objectives' own values in
// Sweep.Base.
func (e *Experiment) expandSweep() error {
	s := e.Sweep
	if s == nil {
		return nil
	}
	if s.Param == "" {
		return e.errorf("sweep.param must be set")
	}
	switch {
	case len(s.Values) > 0 && len(s.Scale) > 0:
		return e.errorf("sweep.values and sweep.scale exclude each other: give the values, or factors of each objective's own value")
	case len(s.Values) == 0 && len(s.Scale) == 0:
		return e.errorf("sweep.values must list at least one value")
	}
	for i, v := range s.Values {
		if _, err := sweepLabel(v); err != nil {
			return e.errorf("sweep.values[%d] %v", i, err)
		}
	}
	for i, f := range s.Scale {
		if !(f > 0) || math.IsInf(f, 0) {
			return e.errorf("sweep.scale[%d] must be finite and > 0, got %g", i, f)
		}
	}
	for i, l := range s.Objectives {
		if !slices.ContainsFunc(e.Objectives, func(o Objective) bool { return o.Label == l }) {
			return e.errorf("sweep.objectives[%d] %q is not an objective label (labels: %s)", i, l, strings.Join(e.labels(), ", "))
		}
	}
	swept := func(o Objective) bool { return len(s.Objectives) == 0 || slices.Contains(s.Objectives, o.Label) }
	n := len(e.Objectives)
	for _, o := range e.Objectives {
		if swept(o) {
			n += len(s.Values) + len(s.Scale) - 1
		}
	}
	if n > MaxObjectives {
		return e.errorf("the sweep makes %d objectives, more than the limit of %d (MaxObjectives)", n, MaxObjectives)
	}
	s.Base = map[string]any{}
	var out []Objective
	for i, o := range e.Objectives {
		if !swept(o) {
			out = append(out, o)
			continue
		}
		base, has := o.Params[s.Param]
		if has {
			s.Base[o.Label] = base
		}
		values := s.Values
		if len(s.Scale) > 0 {
			var x float64
			switch b := base.(type) {
			case float64:
				x = b
			case int64:
				x = float64(b)
			default:
				if !has {
					return e.errorf("sweep.scale needs objective[%d] %q to set params.%s: it multiplies the objective's own value", i, o.Label, s.Param)
				}
				return e.errorf("sweep.scale needs objective[%d] %q params.%s to be a number, got %s", i, o.Label, s.Param, tomlType(base))
			}
			values = make([]any, len(s.Scale))
			for k, f := range s.Scale {
				if values[k] = x * f; math.IsInf(x*f, 0) {
					return e.errorf("sweep.scale[%d] times objective[%d] %q params.%s = %g overflows", k, i, o.Label, s.Param, x)
				}
			}
		}
		for _, v := range values {
			c := o
			c.Params = maps.Clone(o.Params)
			if c.Params == nil {
				c.Params = map[string]any{}
			}
			c.Params[s.Param] = v
			label, _ := sweepLabel(v)
			c.Label = fmt.Sprintf("%s/%s=%s", o.Label, s.Param, label)
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
