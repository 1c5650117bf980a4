package config

import (
	"time"

	"github.com/prefopt/prefopt/host/testbed"
)

// Defaults returns the value of every key an experiment without [task] may
// leave out. TaskExperimentDefaults holds those of an experiment with
// [task], TaskDefaults those of the [task] table and ObjectiveDefaults those
// of an [[objective]] entry. These four functions are the only place
// defaults are written down.
func Defaults() Experiment {
	return Experiment{
		Run: Run{
			Name:      "prefopt", // directory name under output_dir
			Seed:      42,        // transformers TrainingArguments.seed default
			Seeds:     1,         // one seed; more give each metric a confidence interval
			OutputDir: "runs",    // relative to the experiment file
		},
		Model: Model{
			Vocab:   0,         // tokens; 0 = the tokenizer's vocabulary size
			Context: 128,       // tokens per sequence; a CPU-sized model
			Width:   128,       // embedding dimension; a CPU-sized model
			Heads:   4,         // attention heads; head dimension 32
			Layers:  2,         // transformer blocks; a CPU-sized model
			MLPMult: 4,         // MLP hidden = 4·width, GPT-2 / nanoGPT
			DType:   "float32", // the only element type the model supports
			Init:    "",        // "" = random initialisation from run.seed
		},
		Tokenizer: Tokenizer{
			Kind:   "byte", // one token per byte, 256 symbols + specials
			AddEOS: true,   // end every completion with EOS, as TRL does
		},
		Data: Data{
			Format:          "auto",     // detected from the first record
			EvalFraction:    0,          // fraction of train held out; 0 = none
			MaxLength:       128,        // tokens, prompt + completion; = model.context
			MaxPromptLength: 64,         // tokens; TRL's 512/1024 ratio of max_length
			TruncationMode:  "keep_end", // TRL DPOConfig.truncation_mode default
		},
		Reference: Reference{
			Checkpoint: "",   // "" = frozen copy of the starting policy
			Cache:      true, // reference log-probs computed once per example
		},
		Optimizer: Optimizer{
			Name:        "adamw",
			LR:          1e-4,  // peak learning rate; nanoGPT-scale models (TRL's 1e-6 suits billions of parameters)
			Beta1:       0.9,   // torch.optim.AdamW default
			Beta2:       0.999, // torch.optim.AdamW default
			Eps:         1e-8,  // torch.optim.AdamW default
			WeightDecay: 0,     // transformers TrainingArguments.weight_decay default
			MaxGradNorm: 1,     // global L2 norm; transformers TrainingArguments.max_grad_norm default
		},
		Train: Train{
			Steps:           0,        // optimizer steps; 0 = use epochs
			Epochs:          3,        // passes over train; transformers TrainingArguments.num_train_epochs default
			BatchSize:       8,        // pairs (or unpaired examples) per step; TrainingArguments.per_device_train_batch_size default
			WarmupSteps:     0,        // optimizer steps; TrainingArguments.warmup_steps default
			WarmupRatio:     0,        // fraction of total steps; TrainingArguments.warmup_ratio default
			Schedule:        "linear", // TrainingArguments.lr_scheduler_type default
			MinLRRatio:      0,        // final lr as a fraction of optimizer.lr; transformers decays to 0
			LogEvery:        10,       // optimizer steps
			EvalEvery:       100,      // optimizer steps; 0 = only at the end
			CheckpointEvery: 500,      // optimizer steps; TrainingArguments.save_steps default; 0 = only at the end
			KeepCheckpoints: 3,        // newest checkpoints kept; 0 = keep all
			DropLast:        false,    // TrainingArguments.dataloader_drop_last default
		},
	}
}

// TaskExperimentDefaults returns the defaults of an experiment with a
// [task] table: the settings of the built-in comparison (`prefopt compare`
// without a file), sized for the built-in task. Its Tokenizer and Data do
// not apply: the task brings its own.
func TaskExperimentDefaults() Experiment {
	e := Defaults()
	e.Run.Name = "compare" // run directory: <output_dir>/compare-<time>
	e.Run.Seed = 1         // seeds the task's pairs, the model, the reference SFT and shuffling
	e.Model.Context = 9    // tokens: task prompt_len + completion_len
	e.Model.Width = 64     // embedding dimension; the task needs little capacity
	e.Optimizer.LR = 1e-3  // constant; a 64-wide model on 1024 pairs
	e.Train = Train{
		Epochs:          1,          // one pass over the task's pairs
		BatchSize:       32,         // pairs (KTO: completions) per step
		Schedule:        "constant", // no decay: curves show the objective, not the schedule
		LogEvery:        4,          // optimizer steps
		EvalEvery:       4,          // optimizer steps between exact evaluations
		CheckpointEvery: 0,          // only the final policy is saved
		KeepCheckpoints: 1,          // newest checkpoints kept
		DropLast:        false,      // TrainingArguments.dataloader_drop_last default
	}
	return e
}

// TaskDefaults returns the defaults of the [task] table: the built-in task,
// and a reference trained for 300 steps on 4096 noisy copies.
func TaskDefaults() Task {
	return Task{
		Config:         testbed.Defaults(),
		Demonstrations: 4096, // supervised rows for the reference
		SFTSteps:       300,  // reference SFT steps
		SFTBatch:       64,   // rows per reference SFT step
		SFTLR:          3e-3, // reference SFT learning rate, constant
		// β′ of the exact reward–KL frontier, from nearly π_ref to far from it
		FrontierBetas: []float64{8, 4, 2, 1, 0.7, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05},
		DesirableKeep: 1, // unpaired objectives see every chosen completion
	}
}

// ObjectiveDefaults returns the defaults of one [[objective]] entry. Label
// defaults to the name (or the plugin file's base name) and is filled in by
// Parse.
func ObjectiveDefaults() Objective {
	return Objective{
		AutoMTLS:    true,             // mutual TLS between host and plugin, go-plugin's AutoMTLS
		InProcess:   false,            // built-ins run as plugins too unless asked
		Timeout:     60 * time.Second, // per objective call, including start-up
		MaxAttempts: 3,                // calls tried before the step fails
		OnBadReply:  "fail",           // stop on a reply that breaks the contract
	}
}
