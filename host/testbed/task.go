package testbed

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// ErrNotExact is reported by methods that enumerate completions when the
// task was built with exact = false.
var ErrNotExact = errors.New("testbed: task is not exact: enumeration needs exact = true")

// promptStream is the second PCG word of the prompt generator, so the
// prompts depend on Config.Seed alone.
const promptStream = 0x7465737462656421

// Task is a generated task: its configuration and its train and eval
// prompts. A Task is immutable and safe for concurrent use.
type Task struct {
	cfg    Config
	sp     space
	n      int   // completions per prompt in exact mode, else 0
	lens   []int // |y| of every completion in canonical order, variable lengths in exact mode only
	train  [][]int
	eval   [][]int
	isEval map[string]bool
}

// New validates cfg and draws TrainPrompts + EvalPrompts distinct prompts
// uniformly from the A^P possible ones with a PCG seeded by cfg.Seed; the
// first TrainPrompts (in random order) are the train set, the rest the eval
// set. The same Config gives the same Task bit for bit.
func New(cfg Config) (*Task, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Task{cfg: cfg, sp: newSpace(cfg), isEval: map[string]bool{}}
	t.n = t.sp.n
	if cfg.Exact && cfg.VariableLength {
		t.lens = t.sp.lengths()
	}
	space, _ := power(cfg.Alphabet, cfg.PromptLen, maxPromptSpace)
	rng := rand.New(rand.NewPCG(cfg.Seed, promptStream))
	ids := floyd(space, uint64(cfg.TrainPrompts+cfg.EvalPrompts), rng)
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for i, id := range ids {
		p := digits(id, cfg.Alphabet, cfg.PromptLen)
		if i < cfg.TrainPrompts {
			t.train = append(t.train, p)
		} else {
			t.eval = append(t.eval, p)
			t.isEval[key(p)] = true
		}
	}
	return t, nil
}

// floyd returns k distinct integers drawn uniformly from [0, n) (Floyd's
// algorithm), in an order that depends only on rng.
func floyd(n, k uint64, rng *rand.Rand) []uint64 {
	seen := make(map[uint64]bool, k)
	out := make([]uint64, 0, k)
	for j := n - k; j < n; j++ {
		v := rng.Uint64N(j + 1)
		if seen[v] {
			v = j
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// digits returns the length base-a digits of v, most significant first.
func digits(v uint64, a, length int) []int {
	d := make([]int, length)
	for j := length - 1; j >= 0; j-- {
		d[j] = int(v % uint64(a))
		v /= uint64(a)
	}
	return d
}

// key is a map key for an id sequence.
func key(ids []int) string {
	b := make([]byte, 0, 4*len(ids))
	for _, v := range ids {
		b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return string(b)
}

// Config returns the configuration the task was built from.
func (t *Task) Config() Config { return t.cfg }

// TrainPrompts returns a copy of the train prompts.
func (t *Task) TrainPrompts() [][]int { return cloneRows(t.train) }

// EvalPrompts returns a copy of the eval prompts.
func (t *Task) EvalPrompts() [][]int { return cloneRows(t.eval) }

func cloneRows(rows [][]int) [][]int {
	out := make([][]int, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
	}
	return out
}

// NumCompletions returns the number of completions per prompt: A^L, or
// Σ_{l=0..L} A^l with variable lengths. It panics if the task is not exact.
func (t *Task) NumCompletions() int {
	t.mustExact()
	return t.n
}

func (t *Task) mustExact() {
	if !t.cfg.Exact {
		panic(ErrNotExact)
	}
}

// Enumerate returns every completion in canonical order (see the package
// documentation): at fixed length element k is the L base-A digits of k,
// most significant first. It panics if the task is not exact.
func (t *Task) Enumerate() [][]int {
	t.mustExact()
	out := make([][]int, t.n)
	for k := range out {
		out[k] = t.sp.completion(k)
	}
	return out
}

// Index returns the canonical index of a completion: Σ_j y_j·A^{L−1−j} at
// fixed length, Σ_{i<l} A^i plus the base-A value of its l symbols with
// variable lengths. It panics if the task is not exact or completion is not
// one of the task's completions (wrong length, misplaced EOS, an id outside
// the alphabet).
func (t *Task) Index(completion []int) int {
	t.mustExact()
	k, err := t.sp.index(completion)
	if err != nil {
		panic("testbed: Index: " + strings.TrimPrefix(err.Error(), "testbed: "))
	}
	return k
}

// Completion returns the completion of canonical index k, with its EOS when
// it has fewer than L symbols. It panics if the task is not exact or k is
// outside [0, NumCompletions()).
func (t *Task) Completion(k int) []int {
	t.mustExact()
	if k < 0 || k >= t.n {
		panic(fmt.Sprintf("testbed: Completion: index %d outside [0, %d)", k, t.n))
	}
	return t.sp.completion(k)
}

// EOS returns the end-of-sequence id A of a variable-length task, or −1 at
// fixed length.
func (t *Task) EOS() int {
	if !t.cfg.VariableLength {
		return -1
	}
	return t.sp.eos()
}

// Len returns |y|, the number of symbols of completion before its EOS. It
// panics if completion is not one of the task's completions.
func (t *Task) Len(completion []int) int {
	l, err := t.sp.symbols(completion)
	if err != nil {
		panic(err.Error())
	}
	return l
}

// Reward returns r*(x,y) (see the package documentation); an EOS earns
// nothing. It panics if len(prompt) ≠ P or completion is not one of the
// task's completions.
func (t *Task) Reward(prompt, completion []int) float64 {
	t.checkLens(prompt, completion)
	if t.cfg.VariableLength {
		completion = completion[:t.Len(completion)]
	}
	return t.symbolReward(prompt, completion)
}

// symbolReward returns r* of the symbols y, without EOS, unchecked.
func (t *Task) symbolReward(prompt, completion []int) float64 {
	copies, repeats := 0, 0
	for j, v := range completion {
		if v == prompt[j%len(prompt)] {
			copies++
		}
		if j > 0 && v == completion[j-1] {
			repeats++
		}
	}
	return t.reward(copies, repeats)
}

func (t *Task) reward(copies, repeats int) float64 {
	l := t.cfg.CompletionLen
	r := t.cfg.CopyReward * float64(copies) / float64(l)
	if l > 1 {
		r -= t.cfg.RepeatPenalty * float64(repeats) / float64(l-1)
	}
	return r
}

func (t *Task) checkLens(prompt, completion []int) {
	if len(prompt) != t.cfg.PromptLen {
		panic(fmt.Sprintf("testbed: prompt has %d tokens, want %d", len(prompt), t.cfg.PromptLen))
	}
	if completion == nil {
		return
	}
	if !t.cfg.VariableLength && len(completion) != t.cfg.CompletionLen {
		panic(fmt.Sprintf("testbed: completion has %d tokens, want %d", len(completion), t.cfg.CompletionLen))
	}
	if t.cfg.VariableLength {
		if _, err := t.sp.symbols(completion); err != nil {
			panic(err.Error())
		}
	}
}

// Rewards returns r*(x,y) for every completion y in canonical order. It
// panics if the task is not exact or len(prompt) ≠ P.
func (t *Task) Rewards(prompt []int) []float64 {
	t.mustExact()
	t.checkLens(prompt, nil)
	out := make([]float64, t.n)
	if t.cfg.VariableLength {
		t.sp.each(func(k int, y []int) { out[k] = t.symbolReward(prompt, y[:t.lens[k]]) })
		return out
	}
	y := make([]int, t.cfg.CompletionLen)
	for k := range out {
		out[k] = t.Reward(prompt, y)
		next(y, t.cfg.Alphabet)
	}
	return out
}

// Lengths returns |y| for every completion y in canonical order. It panics
// if the task is not exact.
func (t *Task) Lengths() []int {
	t.mustExact()
	if t.lens != nil {
		return slices.Clone(t.lens)
	}
	return t.sp.lengths()
}

// next advances y to the following completion in canonical order.
func next(y []int, a int) {
	for j := len(y) - 1; j >= 0; j-- {
		y[j]++
		if y[j] < a {
			return
		}
		y[j] = 0
	}
}

// Demonstration is one supervised example for the reference model.
type Demonstration struct {
	Prompt     []int
	Completion []int
}

// Demonstrations returns n rows for supervised training of the reference:
// each prompt is drawn uniformly from the A^P prompts that are not eval
// prompts (train prompts included), and its completion from [Task.Demo].
// Works in both modes.
func (t *Task) Demonstrations(n int, rng *rand.Rand) []Demonstration {
	demo := t.Demo()
	out := make([]Demonstration, n)
	for i := range out {
		var p []int
		for {
			p = make([]int, t.cfg.PromptLen)
			for j := range p {
				p[j] = rng.IntN(t.cfg.Alphabet)
			}
			if !t.isEval[key(p)] {
				break
			}
		}
		y, _ := demo.sample(p, rng)
		out[i] = Demonstration{Prompt: p, Completion: y}
	}
	return out
}
