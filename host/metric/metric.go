// Package metric is the vocabulary of metric names shared by the trainer
// that writes them, the objectives and evaluators that produce them, and the
// table and report that read them. A name used in more than one package is
// a constant here, so a typo is a compile error rather than a missing
// column.
package metric

// Written by the trainer into every training record of metrics.jsonl.
const (
	Step            = "step"
	Loss            = "loss"
	GradNorm        = "grad_norm"
	LearningRate    = "learning_rate"
	Epoch           = "epoch"
	TokensPerSecond = "tokens_per_second"
	// SkippedSteps counts steps of the logging window that were not applied
	// (bad reply or non-finite value under on_bad_reply = "skip").
	SkippedSteps = "skipped_steps"
	// ExamplesSeen counts training examples consumed so far, so runs whose
	// objectives take different numbers of steps per example compare on
	// one axis.
	ExamplesSeen = "examples_seen"
)

// EvalPrefix starts the name of every metric of an evaluation on held-out
// data: "eval_loss", "eval_rewards/accuracies".
const EvalPrefix = "eval_"

// ObjectivePrefix renames an objective's metric whose name the host owns.
const ObjectivePrefix = "objective/"

// Evaluation metrics.
const (
	EvalLoss              = EvalPrefix + Loss
	EvalRewardsAccuracies = EvalPrefix + RewardsAccuracies
	// EvalSkippedBatches counts evaluation batches skipped on bad replies.
	EvalSkippedBatches = EvalPrefix + "skipped_batches"
)

// TrainLoss is the last logged training loss, among a comparison's final
// metrics.
const TrainLoss = "train_loss"

// Metrics of TRL's preference trainers that the report reads (the
// objectives produce them under these names).
const (
	RewardsAccuracies = "rewards/accuracies"
	RewardsMargins    = "rewards/margins"
	RewardsChosen     = "rewards/chosen"
	RewardsRejected   = "rewards/rejected"
	LogpsChosen       = "logps/chosen"
	LogpsRejected     = "logps/rejected"
)

// Exact metrics of the built-in testbed, computed by enumeration at every
// evaluation.
const (
	ExpectedReward         = "expected_reward"
	KLToReference          = "kl_to_reference"
	KLToOptimal            = "kl_to_optimal"
	FreeEnergyGap          = "free_energy_gap"
	Entropy                = "entropy"
	RegularizedObjective   = "regularized_objective"
	ImplicitRewardAccuracy = "implicit_reward_accuracy"
	ExpectedLength         = "expected_length" // E_π[|y|], symbols before EOS
	// FrontierShortfall is the exact optimal frontier's expected reward at
	// the policy's KL(π‖π_ref), minus the policy's expected reward: how much
	// reward the policy leaves on the table for the KL it spent (≥ 0 up to
	// interpolation, 0 on the frontier).
	FrontierShortfall = "frontier_reward_shortfall"
)
