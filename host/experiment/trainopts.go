package experiment

import (
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/train"
)

// optimizerOf is the trainer's view of [optimizer].
func optimizerOf(o config.Optimizer) train.Optimizer {
	return train.Optimizer{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay, MaxGradNorm: o.MaxGradNorm}
}

// loopOf is the trainer's view of [train].
func loopOf(t config.Train) train.Loop {
	return train.Loop{
		Steps: t.Steps, Epochs: t.Epochs, BatchSize: t.BatchSize, DropLast: t.DropLast,
		WarmupSteps: t.WarmupSteps, WarmupRatio: t.WarmupRatio, Schedule: t.Schedule, MinLRRatio: t.MinLRRatio,
		LogEvery: t.LogEvery, EvalEvery: t.EvalEvery, CheckpointEvery: t.CheckpointEvery, KeepCheckpoints: t.KeepCheckpoints,
	}
}
