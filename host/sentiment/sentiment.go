// Package sentiment runs the controlled-sentiment experiment of the DPO
// paper (Rafailov et al. 2023, arXiv:2305.18290, §6.1 and Figure 2) in
// miniature, on real English text with a real reward:
//
//  1. Corpus: the quotes of Debian's fortunes package, cleaned,
//     deduplicated and split into train and held-out sets.
//  2. Reference: a byte-level transformer trained on the train quotes with
//     supervised fine-tuning (prefopt sft); its held-out perplexity is
//     reported.
//  3. Preference data: prompts are the first words of held-out quotes; two
//     completions of each are sampled from π_ref (PairsPerPrompt times), scored with the AFINN-165
//     sentiment reward ([Lexicon.Reward]) and labelled by Bradley–Terry,
//     P(a ≻ b) = σ((r_a − r_b)/τ), τ the label temperature (τ = 0: the
//     higher reward wins). Pairs of equal reward are dropped, and so are
//     pairs with a completion that did not end with EOS or holds another
//     special token, so the trainer's sequences are exactly the sampled
//     ones. The pairs are written as TRL-format JSONL (prompt, chosen,
//     rejected); KTO trains on them unpaired.
//  4. Training: dpo, ipo, kto, orpo and simpo, each over a sweep of β, from
//     π_ref with π_ref as the reference, same data and seed, through
//     [experiment.TrainAll].
//  5. Evaluation by sampling: for each policy, n samples per held-out
//     evaluation prompt give E[r] and KL(π‖π_ref) with standard errors
//     ([Point]), at the end and at every checkpoint (reward vs step);
//     π_ref itself and the best-of-N frontier ([BestOfN]) are the baselines.
//  6. Output: summary.json and report.html in the run directory.
//
// Everything is seeded: the same options give the same numbers.
package sentiment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/experiment"
	"github.com/prefopt/prefopt/host/generate"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/tokenizer"
)

// Objectives are the built-in objectives the experiment trains.
var Objectives = []string{"dpo", "ipo", "kto", "orpo", "simpo"}

// Profile fixes the size of every part of the experiment.
type Profile struct {
	// Corpus: quotes of MinChars to MaxChars bytes; TestFraction held out.
	MinChars, MaxChars int
	TestFraction       float64
	// Reference model shape and its supervised training.
	Context, Width, Heads, Layers, MLPMult int
	SFTSteps, SFTBatch                     int
	SFTLR                                  float64
	// Prompts: PromptWords first words of held-out quotes; PrefPrompts of
	// them get a sampled pair, EvalPrompts others are evaluated.
	PromptWords, PrefPrompts, EvalPrompts int
	PairsPerPrompt                        int     // sampled pairs per preference prompt
	MaxTokens                             int     // completion tokens per sample
	LabelTemperature                      float64 // τ of the Bradley–Terry labels
	// Preference training of every objective and β.
	Betas                   []float64
	Steps, Batch, Snapshots int // Snapshots: checkpoints evaluated for reward vs step
	LR                      float64
	// Evaluation: samples per prompt at the end, at snapshots, and of π_ref
	// for best-of-N (a power of two).
	EvalSamples, SnapshotSamples, BestOfN int
	Show                                  int // sample completions shown per policy
}

// Full is the experiment as reported (about 30 minutes on 2 cores).
func Full() Profile {
	return Profile{
		MinChars: 24, MaxChars: 88, TestFraction: 0.1,
		Context: 96, Width: 64, Heads: 4, Layers: 3, MLPMult: 4,
		SFTSteps: 2400, SFTBatch: 16, SFTLR: 2e-3,
		PromptWords: 3, PrefPrompts: 2048, PairsPerPrompt: 8, EvalPrompts: 64, MaxTokens: 80, LabelTemperature: 0.1,
		Betas: []float64{0.03, 0.1, 0.3, 1}, Steps: 60, Batch: 16, Snapshots: 3, LR: 5e-4,
		EvalSamples: 8, SnapshotSamples: 2, BestOfN: 64, Show: 4,
	}
}

// Quick is a small variant for tests (a few minutes at most on 2 cores):
// the same pipeline, a tiny model and few steps.
func Quick() Profile {
	return Profile{
		MinChars: 16, MaxChars: 40, TestFraction: 0.3,
		Context: 48, Width: 32, Heads: 2, Layers: 1, MLPMult: 2,
		SFTSteps: 600, SFTBatch: 16, SFTLR: 3e-3,
		PromptWords: 2, PrefPrompts: 1024, PairsPerPrompt: 8, EvalPrompts: 12, MaxTokens: 40, LabelTemperature: 0.1,
		Betas: []float64{0.1, 0.3, 1, 3}, Steps: 8, Batch: 8, Snapshots: 2, LR: 5e-4,
		EvalSamples: 4, SnapshotSamples: 2, BestOfN: 8, Show: 2,
	}
}

// Options configure [Run].
type Options struct {
	Dir      string // run directory, created if needed
	Fortunes string // fortune files (default DefaultFortunes)
	AFINN    string // AFINN-165 JSON word list
	Seed     uint64
	Profile  Profile
	Log      io.Writer // progress lines; nil discards them
}

// Summary is the content of summary.json.
type Summary struct {
	Seed      uint64             `json:"seed"`
	Profile   Profile            `json:"profile"`
	Seconds   map[string]float64 `json:"seconds"` // wall time per part
	Corpus    CorpusInfo         `json:"corpus"`
	SFT       SFTInfo            `json:"sft"`
	Prefs     PrefsInfo          `json:"prefs"`
	Reference Point              `json:"reference"`
	BestOfN   []BestOfN          `json:"best_of_n"`
	Policies  []Policy           `json:"policies"`
}

// CorpusInfo counts the quotes.
type CorpusInfo struct {
	Quotes int `json:"quotes"`
	Train  int `json:"train"`
	Test   int `json:"test"`
}

// SFTInfo describes the reference model.
type SFTInfo struct {
	Dir     string       `json:"dir"`
	Params  int          `json:"params"`
	Steps   int          `json:"steps"`
	EvalPPL float64      `json:"eval_ppl"` // per-token perplexity on the held-out quotes (bytes and EOS)
	Samples []Completion `json:"samples"`
}

// PrefsInfo describes the preference data.
type PrefsInfo struct {
	File         string  `json:"file"`
	Pairs        int     `json:"pairs"`
	Ties         int     `json:"dropped_ties"`
	Unfinished   int     `json:"dropped_unfinished"`
	ChosenReward float64 `json:"chosen_reward"` // mean
	RejectReward float64 `json:"rejected_reward"`
}

// Policy is one trained policy and its evaluation.
type Policy struct {
	Label     string       `json:"label"`
	Objective string       `json:"objective"`
	Beta      float64      `json:"beta"`
	Point                  // at the end of training
	Steps     []StepPoint  `json:"steps"`
	Samples   []Completion `json:"sample_completions"`
}

// StepPoint is the evaluation of a checkpoint.
type StepPoint struct {
	Step int `json:"step"`
	Point
}

// Run carries out the experiment and writes opts.Dir/summary.json and
// opts.Dir/report.html.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	p := opts.Profile
	if opts.Fortunes == "" {
		opts.Fortunes = DefaultFortunes
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("sentiment: options: Dir is empty")
	}
	if len(p.Betas) == 0 || p.BestOfN < 1 || p.EvalSamples < 1 || p.Steps < 1 {
		return nil, fmt.Errorf("sentiment: profile needs betas, steps, eval samples and best-of-N ≥ 1")
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	sum := &Summary{Seed: opts.Seed, Profile: p, Seconds: map[string]float64{}}
	clock := time.Now()
	lap := func(part string) {
		now := time.Now()
		sum.Seconds[part] = math.Round(now.Sub(clock).Seconds()*10) / 10
		fmt.Fprintf(log, "sentiment: %s done in %.1fs\n", part, sum.Seconds[part])
		clock = now
	}

	// 1. Corpus.
	lex, err := LoadLexicon(opts.AFINN)
	if err != nil {
		return nil, err
	}
	quotes, err := ReadCorpus(opts.Fortunes, p.MinChars, p.MaxChars)
	if err != nil {
		return nil, err
	}
	quotes = shuffled(quotes, opts.Seed)
	nTest := int(math.Round(float64(len(quotes)) * p.TestFraction))
	test, trainQ := quotes[:nTest], quotes[nTest:]
	sum.Corpus = CorpusInfo{Quotes: len(quotes), Train: len(trainQ), Test: len(test)}
	var prompts []string
	for _, q := range test {
		if pr, ok := PromptOf(q, p.PromptWords); ok {
			prompts = append(prompts, pr)
		}
	}
	if len(prompts) < p.EvalPrompts+2 {
		return nil, fmt.Errorf("sentiment: %d held-out prompts, need more than the %d evaluation prompts", len(prompts), p.EvalPrompts)
	}
	evalPrompts, prefPrompts := prompts[:p.EvalPrompts], prompts[p.EvalPrompts:]
	trainFile, testFile := filepath.Join(dir, "quotes_train.jsonl"), filepath.Join(dir, "quotes_test.jsonl")
	if err := writeJSONL(trainFile, texts(trainQ)); err != nil {
		return nil, err
	}
	if err := writeJSONL(testFile, texts(test)); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "sentiment: %d quotes (%d train, %d held out), %d evaluation prompts\n", len(quotes), len(trainQ), len(test), len(evalPrompts))
	lap("corpus")

	// 2. Reference by supervised fine-tuning.
	sftExp, err := config.ParseSFT([]byte(sftTOML(p, opts.Seed, dir, trainFile, testFile)), filepath.Join(dir, "sft.toml"))
	if err != nil {
		return nil, fmt.Errorf("sentiment: sft config: %w", err)
	}
	sftRun, err := experiment.SFT(ctx, sftExp, experiment.Options{Dir: dir, Log: log})
	if err != nil {
		return nil, fmt.Errorf("sentiment: sft: %w", err)
	}
	ref, err := generate.Load(sftRun.Dir)
	if err != nil {
		return nil, err
	}
	sum.SFT = SFTInfo{Dir: sftRun.Dir, Params: ref.Weights.NumParams(), Steps: sftRun.Outcome.Steps, EvalPPL: math.NaN()}
	if h := sftRun.Outcome.History; len(h) > 0 {
		sum.SFT.EvalPPL = h[len(h)-1].Values["eval_ppl"]
	}
	tok := ref.Tokenizer
	ev := &evaluator{lex: lex, tok: tok, ref: ref.Weights, prompts: evalPrompts, maxTokens: p.MaxTokens}
	for _, pr := range evalPrompts {
		ids, err := generate.EncodePrompt(tok, pr)
		if err != nil {
			return nil, err
		}
		ev.ids = append(ev.ids, ids)
	}
	fmt.Fprintf(log, "sentiment: reference %d parameters, held-out perplexity %.3f per byte\n", sum.SFT.Params, sum.SFT.EvalPPL)
	lap("sft")

	// 3. Preference data sampled from π_ref.
	prefFile := filepath.Join(dir, "preferences.jsonl")
	sum.Prefs, err = makePrefs(ctx, ev, prefPrompts[:min(p.PrefPrompts, len(prefPrompts))], p, opts.Seed, prefFile)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "sentiment: %d preference pairs (%d ties and %d unfinished dropped), mean reward chosen %.3f, rejected %.3f\n",
		sum.Prefs.Pairs, sum.Prefs.Ties, sum.Prefs.Unfinished, sum.Prefs.ChosenReward, sum.Prefs.RejectReward)
	lap("preferences")

	// 4. Training every objective over the β sweep.
	exp, err := config.Parse([]byte(trainTOML(p, opts.Seed, dir, sftRun.Dir, prefFile)), filepath.Join(dir, "train.toml"))
	if err != nil {
		return nil, fmt.Errorf("sentiment: train config: %w", err)
	}
	eopts := experiment.Options{Dir: filepath.Join(dir, "train"), Log: log}
	m, err := experiment.Prepare(ctx, exp, eopts)
	if err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	runs, err := experiment.TrainAll(ctx, exp, m, eopts)
	if err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	lap("train")

	// 5. Evaluation by sampling. Seeds differ per use, not per policy:
	// every policy is evaluated with the same draws of its generator.
	evalSeed := opts.Seed + 1000
	if sum.Reference, sum.SFT.Samples, err = ev.point(ctx, ref.Weights, p.EvalSamples, evalSeed, p.Show); err != nil {
		return nil, err
	}
	if sum.BestOfN, err = ev.bestOfN(ctx, p.BestOfN, opts.Seed+2000); err != nil {
		return nil, err
	}
	for _, r := range runs {
		pol := Policy{Label: r.Label, Objective: r.Name, Beta: toFloat(r.Params["beta"])}
		if pol.Point, pol.Samples, err = ev.point(ctx, r.Outcome.Policy, p.EvalSamples, evalSeed, p.Show); err != nil {
			return nil, err
		}
		if pol.Steps, err = stepPoints(ctx, ev, r.Dir, p.SnapshotSamples, opts.Seed+3000, sum.Reference); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "sentiment: %-14s E[r] %+.4f ± %.4f  KL %.3f ± %.3f\n", pol.Label, pol.Reward, pol.RewardSE, pol.KL, pol.KLSE)
		sum.Policies = append(sum.Policies, pol)
	}
	lap("evaluation")

	// 6. Output.
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	if err := writeReport(filepath.Join(dir, "report.html"), sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// stepPoints evaluates every checkpoint of a run directory, step 0 being
// π_ref (given as ref0, evaluated with the final sample count).
func stepPoints(ctx context.Context, ev *evaluator, runDir string, n int, seed uint64, ref0 Point) ([]StepPoint, error) {
	entries, err := os.ReadDir(filepath.Join(runDir, "checkpoints"))
	if err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	out := []StepPoint{{Step: 0, Point: ref0}}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "step-") {
			continue
		}
		step, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "step-"))
		if err != nil {
			continue
		}
		m, err := generate.Load(filepath.Join(runDir, "checkpoints", e.Name()))
		if err != nil {
			return nil, err
		}
		pt, _, err := ev.point(ctx, m.Weights, n, seed, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, StepPoint{Step: step, Point: pt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}

// makePrefs samples two completions of each prompt from the reference,
// labels them and writes the kept pairs as TRL JSONL.
func makePrefs(ctx context.Context, ev *evaluator, prompts []string, p Profile, seed uint64, path string) (PrefsInfo, error) {
	pe := *ev
	pe.prompts, pe.ids = prompts, nil
	for _, pr := range prompts {
		ids, err := generate.EncodePrompt(ev.tok, pr)
		if err != nil {
			return PrefsInfo{}, err
		}
		pe.ids = append(pe.ids, ids)
	}
	k := p.PairsPerPrompt
	s, r, err := pe.sample(ctx, ev.ref, 2*k, seed+4000)
	if err != nil {
		return PrefsInfo{}, err
	}
	rng := rand.New(rand.NewPCG(seed, 0xb7))
	info := PrefsInfo{File: path}
	var rows []any
	for q := range len(prompts) * k {
		pr, a, b := prompts[q/k], 2*q, 2*q+1
		if !clean(s[a], ev.tok, p.Context) || !clean(s[b], ev.tok, p.Context) {
			info.Unfinished++
			continue
		}
		if r[a] == r[b] {
			info.Ties++
			continue
		}
		pa := 0.0 // P(a ≻ b)
		switch d := r[a] - r[b]; {
		case p.LabelTemperature > 0:
			pa = 1 / (1 + math.Exp(-d/p.LabelTemperature))
		case d > 0:
			pa = 1
		}
		if rng.Float64() >= pa {
			a, b = b, a
		}
		rows = append(rows, map[string]string{
			"prompt": pr, "chosen": generate.DecodeCompletion(ev.tok, s[a]), "rejected": generate.DecodeCompletion(ev.tok, s[b]),
		})
		info.ChosenReward += r[a]
		info.RejectReward += r[b]
	}
	info.Pairs = len(rows)
	if info.Pairs < p.Batch {
		return info, fmt.Errorf("sentiment: only %d preference pairs, fewer than a batch of %d", info.Pairs, p.Batch)
	}
	info.ChosenReward /= float64(info.Pairs)
	info.RejectReward /= float64(info.Pairs)
	return info, writeJSONL(path, rows)
}

// clean reports whether a sample ended with EOS, holds no other special
// token and fits the trainer's max_length (the context), so that its text
// re-encodes to exactly its tokens and nothing is cut.
func clean(s model.Sample, tok tokenizer.Tokenizer, maxLen int) bool {
	c := s.Completion()
	if s.Stop != model.StopEOS || len(c) < 2 || len(s.Tokens) > maxLen {
		return false
	}
	for _, t := range c[:len(c)-1] {
		if t >= 256 || t == tok.PAD() || t == tok.BOS() || t == tok.EOS() {
			return false
		}
	}
	return true
}

func texts(qs []string) []any {
	out := make([]any, len(qs))
	for i, q := range qs {
		out[i] = map[string]string{"text": q}
	}
	return out
}

func writeJSONL(path string, rows []any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("sentiment: %w", err)
	}
	return nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case int:
		return float64(x)
	}
	return math.NaN()
}

// headerTOML is the [run], [model] and [tokenizer] sections of the
// experiment files: the byte-level model of profile p, from init ("" for
// fresh weights).
func headerTOML(p Profile, name string, seed uint64, dir, init string) string {
	return fmt.Sprintf(`[run]
name = %q
seed = %d
output_dir = %q

[model]
context = %d
width = %d
heads = %d
layers = %d
mlp_mult = %d
init = %q

[tokenizer]
kind = "byte"
add_eos = true
`, name, seed, dir, p.Context, p.Width, p.Heads, p.Layers, p.MLPMult, init)
}

func sftTOML(p Profile, seed uint64, dir, train, test string) string {
	return headerTOML(p, "sft", seed, dir, "") + fmt.Sprintf(`
[data]
train = %q
eval = %q
max_length = %d

[optimizer]
lr = %g
max_grad_norm = 1.0

[train]
steps = %d
batch_size = %d
warmup_steps = %d
schedule = "cosine"
log_every = %d
eval_every = 0
checkpoint_every = 0
keep_checkpoints = 1
`, train, test, p.Context,
		p.SFTLR, p.SFTSteps, p.SFTBatch, max(1, p.SFTSteps/20), max(1, p.SFTSteps/10))
}

func trainTOML(p Profile, seed uint64, dir, sftDir, prefs string) string {
	var b strings.Builder
	b.WriteString(headerTOML(p, "train", seed, dir, sftDir))
	fmt.Fprintf(&b, `
[data]
train = %q
format = "paired"
max_length = %d
max_prompt_length = %d

[reference]
checkpoint = %q
cache = true

[optimizer]
lr = %g
max_grad_norm = 1.0

[train]
steps = %d
batch_size = %d
warmup_steps = %d
schedule = "constant"
log_every = %d
eval_every = 0
checkpoint_every = %d
keep_checkpoints = 0
`, prefs, p.Context, p.Context/2,
		sftDir, p.LR, p.Steps, p.Batch, max(1, p.Steps/10), max(1, p.Steps/4), max(1, p.Steps/max(1, p.Snapshots)))
	for _, o := range Objectives {
		fmt.Fprintf(&b, "\n[[objective]]\nname = %q\nlabel = %q\nin_process = true\n", o, o)
	}
	betas := make([]string, len(p.Betas))
	for i, v := range p.Betas {
		betas[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	fmt.Fprintf(&b, "\n[sweep]\nparam = \"beta\"\nvalues = [%s]\n", strings.Join(betas, ", "))
	return b.String()
}
