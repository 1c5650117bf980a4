package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/tokenizer"
	"github.com/prefopt/prefopt/host/train"
)

// SFT trains exp's model on the fine-tuning data in exp.Data.Train (text or
// prompt/completion JSONL) with the NLL of the completions, writing into
// opts.Dir/sft.
func SFT(ctx context.Context, exp *config.Experiment, opts Options) (Trained, error) {
	if exp.Data.Train == "" {
		return Trained{}, fmt.Errorf("experiment %s: sft needs data.train", exp.Path())
	}
	tok, err := exp.Tokenizer.New()
	if err != nil {
		return Trained{}, fmt.Errorf("experiment %s: %w", exp.Path(), err)
	}
	mcfg := modelConfig(exp.Model, tok.Size())
	trainSet, err := readSFT(exp.Data.Train, tok, exp.Data.MaxLength)
	if err != nil {
		return Trained{}, err
	}
	var evalSet train.Set
	if exp.Data.Eval != "" {
		if evalSet, err = readSFT(exp.Data.Eval, tok, exp.Data.MaxLength); err != nil {
			return Trained{}, err
		}
	} else if exp.Data.EvalFraction > 0 {
		if trainSet, evalSet, err = split(trainSet, exp.Data.EvalFraction, uint64(exp.Run.Seed)); err != nil {
			return Trained{}, fmt.Errorf("experiment %s: data.eval_fraction: %w", exp.Path(), err)
		}
	}
	init, err := initWeights(exp.Model.Init, mcfg, uint64(exp.Run.Seed))
	if err != nil {
		return Trained{}, fmt.Errorf("experiment %s: model.init: %w", exp.Path(), err)
	}
	resolved, err := exp.Resolved()
	if err != nil {
		return Trained{}, err
	}
	tokSpec, err := json.Marshal(tok.Spec())
	if err != nil {
		return Trained{}, err
	}
	dir := ""
	if opts.Dir != "" {
		dir = filepath.Join(opts.Dir, "sft")
	}
	out, err := train.Run(ctx, train.Job{
		Label: "sft", Objective: train.NLL{}, Init: init, Train: trainSet, Eval: evalSet,
		Optimizer: optimizerOf(exp.Optimizer), Loop: loopOf(exp.Train), Seed: uint64(exp.Run.Seed), Dir: dir,
		Config: resolved, Tokenizer: tokSpec, Resume: opts.Resume, ResumeFallback: opts.ResumeFallback, Log: opts.Log,
	})
	if err != nil {
		return Trained{}, err
	}
	return Trained{Label: "sft", Name: "nll", Outcome: out, Dir: dir}, nil
}

func readSFT(path string, tok tokenizer.Tokenizer, maxLength int) (train.Set, error) {
	f, err := data.ReadFile(path, data.ReadOptions{})
	if err != nil {
		return train.Set{}, err
	}
	s, err := f.SFTSet(tok, maxLength)
	if err != nil {
		return train.Set{}, err
	}
	u := &data.UnpairedSet{Rows: s.Rows, Source: s.Source, Labels: make([]bool, len(s.Rows))}
	for i := range u.Labels {
		u.Labels[i] = true
	}
	return train.Set{Unpaired: u}, nil
}
