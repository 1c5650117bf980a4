package config

import "time"

// Defaults returns the value of every key a configuration may leave out.
// ObjectiveDefaults holds those of an [[objective]] entry. These two
// functions are the only place defaults are written down.
func Defaults() Experiment {
	return Experiment{
		Run: Run{
			Name:      "prefopt", // directory name under output_dir
			Seed:      42,        // transformers TrainingArguments.seed default
			OutputDir: "runs",    // relative to the working directory
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
		},
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
