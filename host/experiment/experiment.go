// Package experiment turns an experiment file into training runs: it builds
// the tokenizer, data, model and reference named by the file (or the
// built-in synthetic task), opens each objective as a plugin, and trains one
// policy per objective from the same starting weights.
package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/host/tokenizer"
	"github.com/prefopt/prefopt/host/train"
)

// Options control where and how an experiment runs.
type Options struct {
	// Dir is the run directory; each objective writes into Dir/<label>.
	Dir string
	// Resume continues every objective from its latest checkpoint.
	Resume bool
	// ResumeFallback resumes from the newest good checkpoint when the latest
	// is damaged, instead of failing.
	ResumeFallback bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// PluginStderr receives plugins' stderr; nil means os.Stderr.
	PluginStderr io.Writer
	// Progress, if set, is called after every optimizer step of every run.
	Progress func(label string, done, total int, loss float64)
}

// Material is what every objective of an experiment trains on.
type Material struct {
	Tokenizer  tokenizer.Tokenizer
	Model      model.Config
	Init       *model.Weights // the starting policy of every objective
	Reference  *model.Weights // the frozen reference
	Train      train.Set
	Eval       train.Set
	Truncation data.Truncation
	// Testbed is set when the data is the built-in synthetic task.
	Testbed *Testbed
}

// Trained is the result of training one objective.
type Trained struct {
	Label   string
	Name    string // built-in name or plugin path
	Spec    core.Spec
	Params  map[string]any // every parameter in effect
	Outcome *train.Outcome
	Dir     string
}

// Prepare builds the material of exp: from [data] files, or from the
// built-in task when exp has a [task] table.
func Prepare(ctx context.Context, exp *config.Experiment, opts Options) (*Material, error) {
	if exp.Task != nil {
		return prepareTestbed(ctx, exp, opts)
	}
	return prepareFiles(ctx, exp, opts)
}

func prepareFiles(ctx context.Context, exp *config.Experiment, opts Options) (*Material, error) {
	cols, err := dataColumns(ctx, exp, opts)
	if err != nil {
		return nil, err
	}
	if exp.Data.Train == "" {
		return nil, fmt.Errorf("experiment %s: data.train is empty and there is no [task]: nothing to train on", exp.Path())
	}
	tok, err := exp.Tokenizer.New()
	if err != nil {
		return nil, fmt.Errorf("experiment %s: %w", exp.Path(), err)
	}
	mcfg := modelConfig(exp.Model, tok.Size())
	tr := data.Truncation{MaxLength: exp.Data.MaxLength, MaxPromptLength: exp.Data.MaxPromptLength, Mode: data.TruncationMode(exp.Data.TruncationMode)}
	if tr.MaxLength > mcfg.Context+1 {
		return nil, fmt.Errorf("experiment %s: data.max_length %d exceeds model.context+1 = %d", exp.Path(), tr.MaxLength, mcfg.Context+1)
	}
	format := data.FormatAuto
	if name := exp.Data.Format; name != "" && name != "auto" {
		if name == "paired_implicit" {
			name = "implicit"
		}
		if format, err = data.ParseFormat(name); err != nil {
			return nil, fmt.Errorf("experiment %s: data.format: %w", exp.Path(), err)
		}
	}
	trainSet, err := readSet(exp.Data.Train, format, cols, tok, tr)
	if err != nil {
		return nil, err
	}
	var evalSet train.Set
	switch {
	case exp.Data.Eval != "":
		if evalSet, err = readSet(exp.Data.Eval, format, cols, tok, tr); err != nil {
			return nil, err
		}
	case exp.Data.EvalFraction > 0:
		trainSet, evalSet, err = split(trainSet, exp.Data.EvalFraction, uint64(exp.Run.Seed))
		if err != nil {
			return nil, fmt.Errorf("experiment %s: data.eval_fraction: %w", exp.Path(), err)
		}
	}
	m := &Material{Tokenizer: tok, Model: mcfg, Train: trainSet, Eval: evalSet, Truncation: tr}
	if m.Init, err = initWeights(exp.Model.Init, mcfg, uint64(exp.Run.Seed)); err != nil {
		return nil, fmt.Errorf("experiment %s: model.init: %w", exp.Path(), err)
	}
	m.Reference = m.Init
	if exp.Reference.Checkpoint != "" {
		if m.Reference, err = loadWeights(exp.Reference.Checkpoint, mcfg); err != nil {
			return nil, fmt.Errorf("experiment %s: reference.checkpoint: %w", exp.Path(), err)
		}
	}
	return m, nil
}

func modelConfig(c config.Model, vocab int) model.Config {
	if c.Vocab > 0 {
		vocab = c.Vocab
	}
	return model.Config{Vocab: vocab, Context: c.Context, Width: c.Width, Heads: c.Heads, Layers: c.Layers, MLPMult: c.MLPMult}
}

func readSet(path string, format data.Format, columns []string, tok tokenizer.Tokenizer, tr data.Truncation) (train.Set, error) {
	f, err := data.ReadFile(path, data.ReadOptions{Format: format, Columns: columns})
	if err != nil {
		return train.Set{}, err
	}
	var s train.Set
	if f.Format.Paired() {
		s.Paired, err = f.PairedSet(tok, tr)
	} else {
		s.Unpaired, err = f.UnpairedSet(tok, tr)
	}
	return s, err
}

func split(s train.Set, frac float64, seed uint64) (train.Set, train.Set, error) {
	n := 0
	if s.Paired != nil {
		n = s.Paired.Len()
	} else if s.Unpaired != nil {
		n = s.Unpaired.Len()
	}
	tr, ev, err := data.Split(n, frac, seed)
	if err != nil {
		return s, train.Set{}, err
	}
	if s.Paired != nil {
		return train.Set{Paired: s.Paired.Subset(tr)}, train.Set{Paired: s.Paired.Subset(ev)}, nil
	}
	return train.Set{Unpaired: s.Unpaired.Subset(tr)}, train.Set{Unpaired: s.Unpaired.Subset(ev)}, nil
}

// initWeights returns fresh weights from seed, or a checkpoint's weights
// when path is set.
func initWeights(path string, cfg model.Config, seed uint64) (*model.Weights, error) {
	if path == "" {
		return model.New(cfg, seed)
	}
	return loadWeights(path, cfg)
}

// loadWeights reads the weights of a checkpoint directory (or of the latest
// checkpoint under a run directory) into a model of shape cfg. A weight that
// is NaN or infinite is an error naming the file, the tensor and the index
// (checkpoint.Load refuses it).
func loadWeights(path string, cfg model.Config) (*model.Weights, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		c2, _, err2 := checkpoint.LoadLatest(filepath.Join(path, "checkpoints"), false)
		if err2 != nil {
			return nil, err
		}
		c = c2
	}
	w, err := model.Zeros(cfg)
	if err != nil {
		return nil, err
	}
	byName := map[string]checkpoint.Tensor{}
	for _, t := range c.Weights {
		byName[t.Name] = t
	}
	for _, name := range w.Names() {
		t, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("%s: no weight %q (is it a checkpoint of this model shape?)", c.Dir, name)
		}
		if !slices.Equal(t.Shape, w.Shape(name)) {
			return nil, fmt.Errorf("%s: weight %q has shape %v, the configured model needs %v", c.Dir, name, t.Shape, w.Shape(name))
		}
		copy(w.Data(name), t.Data)
	}
	return w, nil
}

// TrainAll trains one policy per objective of exp on m, in the order of the
// file, each from m.Init.
func TrainAll(ctx context.Context, exp *config.Experiment, m *Material, opts Options) ([]Trained, error) {
	resolved, err := exp.Resolved()
	if err != nil {
		return nil, err
	}
	tokSpec, err := json.Marshal(m.Tokenizer.Spec())
	if err != nil {
		return nil, err
	}
	var runs []Trained
	for _, o := range exp.Objectives {
		r, err := trainOne(ctx, exp, m, o, resolved, tokSpec, opts)
		if err != nil {
			return runs, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// dirName makes a label safe as a directory name.
func dirName(label string) string {
	r := strings.NewReplacer("/", "_", "\\", "_", ":", "_", " ", "_", "=", "-")
	return r.Replace(label)
}

func trainOne(ctx context.Context, exp *config.Experiment, m *Material, o config.Objective, resolved, tokSpec []byte, opts Options) (Trained, error) {
	h, err := objective.Open(ctx, objective.Source{
		Name: o.Name, Path: o.Path, Label: o.Label, SHA256: o.SHA256, AutoMTLS: o.AutoMTLS,
		InProcess: o.InProcess, Timeout: o.Timeout, Stderr: opts.PluginStderr,
	})
	if err != nil {
		return Trained{}, err
	}
	defer h.Close()
	obj, params, err := h.Configure(ctx, o.Params)
	if err != nil {
		return Trained{}, fmt.Errorf("objective %s: %w", o.Label, err)
	}
	name := o.Name
	if name == "" {
		name = o.Path
	}
	dir := ""
	if opts.Dir != "" {
		dir = filepath.Join(opts.Dir, dirName(o.Label))
	}
	cache := ""
	if exp.Reference.Cache && opts.Dir != "" {
		cache = filepath.Join(opts.Dir, "cache")
	}
	spec := train.Job{
		Label: o.Label, Objective: obj, Init: m.Init, Reference: m.Reference,
		Train: m.Train, Eval: m.Eval, Optimizer: optimizerOf(exp.Optimizer), Loop: loopOf(exp.Train),
		Seed: uint64(exp.Run.Seed), Dir: dir, CacheDir: cache,
		Config: resolved, Tokenizer: tokSpec, Resume: opts.Resume && started(dir), ResumeFallback: opts.ResumeFallback, Log: opts.Log,
		Progress: opts.Progress, Retry: train.Retry{OnBadReply: o.OnBadReply, Attempts: o.MaxAttempts},
	}
	if h.Client != nil {
		spec.Retry.Restart = func(ctx context.Context) error {
			err := h.Client.Restart(ctx)
			if err != nil && !plugin.Retryable(err) {
				return train.Permanent(err)
			}
			return err
		}
		spec.Retry.Backoff = retryBackoff
	}
	if m.Testbed != nil {
		eval, done := m.Testbed.evaluator()
		defer done()
		spec.OnEval, spec.OnEvalMetrics = eval, exactNames
	}
	out, err := train.Run(ctx, spec)
	if err != nil {
		return Trained{}, err
	}
	return Trained{Label: o.Label, Name: name, Spec: h.Spec(), Params: params.Values(), Outcome: out, Dir: dir}, nil
}

// started reports whether the run directory of one objective holds a
// checkpoint directory entry: resuming a run continues the objectives that
// started and starts the others (the run directory as a whole must hold a
// checkpoint to be resumed; see host/rundir).
func started(dir string) bool {
	_, err := checkpoint.Latest(filepath.Join(dir, "checkpoints"))
	return !errors.Is(err, checkpoint.ErrNotFound)
}

// CheckObjectives starts every objective of exp, configures it with its
// parameters and stops it, so bad parameters or plugins are reported before
// any data is read or model trained.
func CheckObjectives(ctx context.Context, exp *config.Experiment, opts Options) error {
	_, err := dataColumns(ctx, exp, opts)
	return err
}

// dataColumns configures every objective of exp and returns the data
// columns they read (the names after core.ColumnPrefix), sorted.
func dataColumns(ctx context.Context, exp *config.Experiment, opts Options) ([]string, error) {
	cols := map[string]bool{}
	for _, o := range exp.Objectives {
		h, err := objective.Open(ctx, objective.Source{
			Name: o.Name, Path: o.Path, Label: o.Label, SHA256: o.SHA256, AutoMTLS: o.AutoMTLS,
			InProcess: o.InProcess, Timeout: o.Timeout, Stderr: opts.PluginStderr,
		})
		if err != nil {
			return nil, err
		}
		obj, _, err := h.Configure(ctx, o.Params)
		if err == nil {
			for _, in := range obj.Inputs() {
				if col, ok := core.ColumnOf(in); ok {
					cols[col] = true
				}
			}
		}
		h.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: objective %s: %w", exp.Path(), o.Label, err)
		}
	}
	return slices.Sorted(maps.Keys(cols)), nil
}
