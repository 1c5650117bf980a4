// Package checkpoint saves and restores training state.
//
// A checkpoint is a directory step-NNNNNNNN under a root (a run's
// checkpoints/ directory) holding
//
//   - model.safetensors: the weights, float32 (dtype F32), readable by any
//     safetensors reader;
//   - optimizer.safetensors: AdamW's moments as float64 (F64) tensors
//     "<param>.exp_avg" and "<param>.exp_avg_sq", with the update count in
//     the metadata key "step" (absent when there is no optimizer state);
//   - state.json: step, epoch, position in the epoch, the
//     resolved configuration, the tokenizer spec, free-form extras, and the
//     size and SHA-256 of every other file, the whole protected by its own
//     SHA-256.
//
// Save writes a checkpoint into a temporary directory beside the final one,
// fsyncs every file and the directory, renames it into place and fsyncs the
// root, so a crash leaves either the old set of checkpoints or the new one,
// never a partial step directory. Load verifies every checksum.
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/prefopt/prefopt/host/optim"
)

// File names inside a checkpoint directory.
const (
	ModelFile     = "model.safetensors"
	OptimizerFile = "optimizer.safetensors"
	StateFile     = "state.json"
)

// formatVersion is the version of the state.json layout.
const formatVersion = 1

// ErrNotFound is returned (wrapped) by LoadLatest when the root holds no
// checkpoint.
var ErrNotFound = errors.New("no checkpoint")

// Tensor is a named float32 tensor in row-major order; len(Data) is the
// product of Shape (1 for an empty Shape).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Checkpoint is the state of a run after Step optimizer updates.
type Checkpoint struct {
	Step     int64 // optimizer updates made
	Epoch    int   // passes over the training data started, from 0
	Position int   // examples of the current epoch already consumed

	// Weights are returned by Load sorted by name.
	Weights []Tensor
	// Optim is the optimizer state; nil when none is saved.
	Optim *optim.State
	// Config is the resolved experiment TOML.
	Config []byte
	// Tokenizer is the tokenizer's JSON spec, stored compacted.
	Tokenizer json.RawMessage
	// Extra holds free-form strings.
	Extra map[string]string

	// Dir is the directory Load read the checkpoint from; not saved.
	Dir string
}

type fileSum struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type stateDoc struct {
	Version   int                `json:"format_version"`
	Step      int64              `json:"step"`
	Epoch     int                `json:"epoch"`
	Position  int                `json:"position"`
	RNG       []byte             `json:"rng,omitempty"` // written by older versions; ignored
	Config    string             `json:"config"`
	Tokenizer json.RawMessage    `json:"tokenizer"`
	Extra     map[string]string  `json:"extra,omitempty"`
	Files     map[string]fileSum `json:"files"`
}

// envelope is state.json: the state and the SHA-256 of its exact bytes.
type envelope struct {
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}

// DirName returns the name of the directory of the checkpoint at step.
func DirName(step int64) string { return fmt.Sprintf("step-%08d", step) }

// parseDirName returns the step of a checkpoint directory name.
func parseDirName(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "step-")
	if !ok || len(s) < 8 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || DirName(n) != name {
		return 0, false
	}
	return n, true
}

const tmpPrefix = ".tmp-"

// Save writes c atomically as root/step-NNNNNNNN and returns that path. An
// existing checkpoint of the same step is replaced. It returns an error for
// an invalid checkpoint (a negative step, duplicate or reserved tensor
// names, a Data length that does not match its Shape, invalid Tokenizer
// JSON) without writing anything.
func Save(root string, c *Checkpoint) (dir string, err error) {
	if err := c.check(); err != nil {
		return "", err
	}
	return c.write(root)
}

// write saves c as Save does, without checking it.
func (c *Checkpoint) write(root string) (dir string, err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	name := DirName(c.Step)
	dir = filepath.Join(root, name)
	tmp, err := os.MkdirTemp(root, tmpPrefix+name+"-")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()

	files := map[string]fileSum{}
	model := map[string]view{}
	for _, t := range c.Weights {
		model[t.Name] = view{safetensors.F32, dims(t.Shape), f32Bytes(t.Data)}
	}
	meta := map[string]string{"format": "pt", "step": strconv.FormatInt(c.Step, 10)}
	if files[ModelFile], err = writeFile(tmp, ModelFile, func(w *bytes.Buffer) error { return writeSafetensors(w, model, meta) }); err != nil {
		return "", err
	}
	if c.Optim != nil {
		opt := map[string]view{}
		for _, p := range c.Optim.Params {
			n := []uint64{uint64(len(p.M))}
			opt[p.Name+".exp_avg"] = view{safetensors.F64, n, f64Bytes(p.M)}
			opt[p.Name+".exp_avg_sq"] = view{safetensors.F64, n, f64Bytes(p.V)}
		}
		meta := map[string]string{"optimizer": "adamw", "step": strconv.FormatInt(c.Optim.Step, 10)}
		if files[OptimizerFile], err = writeFile(tmp, OptimizerFile, func(w *bytes.Buffer) error { return writeSafetensors(w, opt, meta) }); err != nil {
			return "", err
		}
	}
	tok := c.Tokenizer
	if tok == nil {
		tok = json.RawMessage("null")
	}
	state, err := json.Marshal(stateDoc{
		Version: formatVersion, Step: c.Step, Epoch: c.Epoch, Position: c.Position,
		Config: string(c.Config), Tokenizer: tok, Extra: c.Extra, Files: files,
	})
	if err != nil {
		return "", fmt.Errorf("checkpoint: encoding %s: %w", StateFile, err)
	}
	// The envelope is assembled by hand: an encoder would be free to
	// re-format the state bytes the checksum covers.
	sum := sha256.Sum256(state)
	env := fmt.Appendf(nil, "{\"sha256\": %q,\n \"state\": %s}\n", hex.EncodeToString(sum[:]), state)
	if _, err = writeFile(tmp, StateFile, func(w *bytes.Buffer) error { _, err := w.Write(env); return err }); err != nil {
		return "", err
	}
	if err = syncDir(tmp); err != nil {
		return "", err
	}
	if err = replaceDir(tmp, dir); err != nil {
		return "", err
	}
	if err = syncDir(root); err != nil {
		return "", err
	}
	return dir, nil
}

// check validates c before anything is written.
func (c *Checkpoint) check() error {
	if c.Step < 0 {
		return fmt.Errorf("checkpoint: step must be >= 0, got %d", c.Step)
	}
	if c.Epoch < 0 || c.Position < 0 {
		return fmt.Errorf("checkpoint: epoch and position must be >= 0, got %d and %d", c.Epoch, c.Position)
	}
	seen := map[string]bool{}
	for i, t := range c.Weights {
		if t.Name == "" || t.Name == metadataKey || seen[t.Name] {
			return fmt.Errorf("checkpoint: weights[%d]: name %q is empty, reserved or used twice", i, t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("checkpoint: weights %s: negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("checkpoint: weights %s: shape %v holds %d values, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if err := checkFinite(t); err != nil {
			return fmt.Errorf("checkpoint: %w: not saved", err)
		}
	}
	if c.Optim != nil {
		seen := map[string]bool{}
		for _, p := range c.Optim.Params {
			if p.Name == "" || seen[p.Name] {
				return fmt.Errorf("checkpoint: optimizer state: param name %q is empty or used twice", p.Name)
			}
			seen[p.Name] = true
			if len(p.M) != len(p.V) {
				return fmt.Errorf("checkpoint: optimizer state %s: %d first and %d second moments", p.Name, len(p.M), len(p.V))
			}
			for i := range p.M {
				if m, v := p.M[i], p.V[i]; math.IsNaN(m) || math.IsInf(m, 0) || math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("checkpoint: optimizer state %s[%d] is not finite (m %v, v %v): not saved", p.Name, i, m, v)
				}
			}
		}
	}
	if c.Tokenizer != nil && !json.Valid(c.Tokenizer) {
		return errors.New("checkpoint: tokenizer spec is not valid JSON")
	}
	return nil
}

// checkFinite returns an error naming the first non-finite value of t.
func checkFinite(t Tensor) error {
	for i, v := range t.Data {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("weight %s[%d] is not finite (%v)", t.Name, i, v)
		}
	}
	return nil
}

// writeFile writes the bytes produced by fill to dir/name, fsyncs the file
// and returns its size and SHA-256.
func writeFile(dir, name string, fill func(*bytes.Buffer) error) (fileSum, error) {
	var buf bytes.Buffer
	if err := fill(&buf); err != nil {
		return fileSum{}, fmt.Errorf("checkpoint: encoding %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fileSum{}, fmt.Errorf("checkpoint: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fileSum{}, fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return fileSum{Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: syncing %s: %w", dir, err)
	}
	return nil
}

// replaceDir renames tmp to dir. An existing dir is first moved aside under
// a temporary name and removed after the rename.
func replaceDir(tmp, dir string) error {
	err := os.Rename(tmp, dir)
	if err == nil {
		return nil
	}
	if _, serr := os.Stat(dir); serr != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return os.RemoveAll(old)
}

// Load reads the checkpoint in dir and verifies the checksum of state.json
// and the size and SHA-256 of every file it lists. Errors name the file and
// say whether it is missing, truncated or corrupted.
func Load(dir string) (*Checkpoint, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for _, name := range []string{ModelFile, OptimizerFile} {
		sum, listed := st.Files[name]
		if !listed {
			continue
		}
		b, err := readVerified(dir, name, sum)
		if err != nil {
			return nil, err
		}
		data[name] = b
	}
	for name := range st.Files {
		if name != ModelFile && name != OptimizerFile {
			return nil, fmt.Errorf("checkpoint: %s: lists unknown file %q", filepath.Join(dir, StateFile), name)
		}
	}
	if data[ModelFile] == nil {
		return nil, fmt.Errorf("checkpoint: %s: does not list %s", filepath.Join(dir, StateFile), ModelFile)
	}
	c := &Checkpoint{
		Step: st.Step, Epoch: st.Epoch, Position: st.Position,
		Config: []byte(st.Config), Tokenizer: st.Tokenizer, Extra: st.Extra, Dir: dir,
	}
	if string(c.Tokenizer) == "null" {
		c.Tokenizer = nil
	}
	if c.Weights, err = decodeWeights(data[ModelFile]); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", filepath.Join(dir, ModelFile), err)
	}
	for _, t := range c.Weights {
		if err := checkFinite(t); err != nil {
			return nil, fmt.Errorf("checkpoint: %s: %w", filepath.Join(dir, ModelFile), err)
		}
	}
	if b := data[OptimizerFile]; b != nil {
		if c.Optim, err = decodeOptim(b); err != nil {
			return nil, fmt.Errorf("checkpoint: %s: %w", filepath.Join(dir, OptimizerFile), err)
		}
	}
	return c, nil
}

func readState(dir string) (*stateDoc, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint: %s: missing", path)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: corrupted or truncated: %w", path, err)
	}
	sum := sha256.Sum256(env.State)
	if got := hex.EncodeToString(sum[:]); got != env.SHA256 {
		return nil, fmt.Errorf("checkpoint: %s: corrupted: sha256 of state is %s, recorded %s", path, got, env.SHA256)
	}
	var st stateDoc
	d := json.NewDecoder(bytes.NewReader(env.State))
	d.DisallowUnknownFields()
	if err := d.Decode(&st); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	if st.Version != formatVersion {
		return nil, fmt.Errorf("checkpoint: %s: format_version %d, this version reads %d", path, st.Version, formatVersion)
	}
	return &st, nil
}

func readVerified(dir, name string, want fileSum) ([]byte, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint: %s: missing", path)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if int64(len(b)) != want.Size {
		what := "truncated"
		if int64(len(b)) > want.Size {
			what = "too long"
		}
		return nil, fmt.Errorf("checkpoint: %s: %s: %d bytes, recorded %d", path, what, len(b), want.Size)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want.SHA256 {
		return nil, fmt.Errorf("checkpoint: %s: corrupted: sha256 is %s, recorded %s", path, got, want.SHA256)
	}
	return b, nil
}

func decodeWeights(b []byte) ([]Tensor, error) {
	f, err := parseSafetensors(b)
	if err != nil {
		return nil, err
	}
	ws := make([]Tensor, 0, len(f.Tensors))
	for _, t := range f.Tensors {
		if t.DType != "F32" {
			return nil, fmt.Errorf("tensor %q: dtype %s, want F32", t.Name, t.DType)
		}
		ws = append(ws, Tensor{Name: t.Name, Shape: t.Shape, Data: bytesF32(t.Data)})
	}
	slices.SortFunc(ws, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	return ws, nil
}

func decodeOptim(b []byte) (*optim.State, error) {
	f, err := parseSafetensors(b)
	if err != nil {
		return nil, err
	}
	step, err := strconv.ParseInt(f.Metadata["step"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("metadata step: %w", err)
	}
	m, v := map[string][]float64{}, map[string][]float64{}
	for _, t := range f.Tensors {
		if t.DType != "F64" || len(t.Shape) != 1 {
			return nil, fmt.Errorf("tensor %q: %s%v, want a one-dimensional F64 tensor", t.Name, t.DType, t.Shape)
		}
		if name, ok := strings.CutSuffix(t.Name, ".exp_avg"); ok {
			m[name] = bytesF64(t.Data)
		} else if name, ok := strings.CutSuffix(t.Name, ".exp_avg_sq"); ok {
			v[name] = bytesF64(t.Data)
		} else {
			return nil, fmt.Errorf("tensor %q: not NAME.exp_avg or NAME.exp_avg_sq", t.Name)
		}
	}
	st := &optim.State{Step: step}
	for name, mm := range m {
		vv, ok := v[name]
		if !ok || len(vv) != len(mm) {
			return nil, fmt.Errorf("param %q: exp_avg without a matching exp_avg_sq", name)
		}
		st.Params = append(st.Params, optim.ParamState{Name: name, M: mm, V: vv})
	}
	if len(v) != len(m) {
		return nil, errors.New("exp_avg_sq without a matching exp_avg")
	}
	slices.SortFunc(st.Params, func(a, b optim.ParamState) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// steps returns the checkpoint steps under root, newest first.
func steps(root string) ([]int64, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var s []int64
	for _, e := range entries {
		if n, ok := parseDirName(e.Name()); ok && e.IsDir() {
			s = append(s, n)
		}
	}
	slices.Sort(s)
	slices.Reverse(s)
	return s, nil
}

// Latest returns the directory of the highest-step checkpoint under root
// without reading it. Only complete checkpoints have step directory names:
// Save renames a directory into place after writing it. It returns an error
// wrapping ErrNotFound when there is none.
func Latest(root string) (string, error) {
	s, err := steps(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if len(s) == 0 {
		return "", fmt.Errorf("checkpoint: %s: %w", root, ErrNotFound)
	}
	return filepath.Join(root, DirName(s[0])), nil
}

// LoadLatest loads the highest-step checkpoint under root. If it does not
// verify and fallback is true, older checkpoints are tried in turn; the
// errors of those skipped are returned in skipped so the caller can report
// them. Without fallback the first failure is the error. It returns an error
// wrapping ErrNotFound when root holds no checkpoint, and the joined errors
// of all of them when none verifies.
func LoadLatest(root string, fallback bool) (c *Checkpoint, skipped []error, err error) {
	s, err := steps(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if len(s) == 0 {
		return nil, nil, fmt.Errorf("checkpoint: %s: %w", root, ErrNotFound)
	}
	for _, step := range s {
		c, err := Load(filepath.Join(root, DirName(step)))
		if err == nil {
			return c, skipped, nil
		}
		if !fallback {
			return nil, nil, err
		}
		skipped = append(skipped, err)
	}
	return nil, skipped, fmt.Errorf("checkpoint: %s: no checkpoint verifies:\n%w", root, errors.Join(skipped...))
}

// Verify checks the checksums of the checkpoint in dir without decoding
// its tensors.
func Verify(dir string) error {
	st, err := readState(dir)
	if err != nil {
		return err
	}
	for name, sum := range st.Files {
		if _, err := readVerified(dir, name, sum); err != nil {
			return err
		}
	}
	return nil
}

// Prune deletes all but the keep newest checkpoints under root, and the
// temporary directories of interrupted saves. The newest checkpoint that
// verifies is never deleted, even when keep newer ones do not verify.
// keep <= 0 keeps every checkpoint. It returns the deleted directories.
func Prune(root string, keep int) (removed []string, err error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			p := filepath.Join(root, e.Name())
			if err := os.RemoveAll(p); err != nil {
				return removed, fmt.Errorf("checkpoint: %w", err)
			}
			removed = append(removed, p)
		}
	}
	if keep <= 0 {
		return removed, nil
	}
	s, err := steps(root)
	if err != nil {
		return removed, fmt.Errorf("checkpoint: %w", err)
	}
	good := int64(-1)
	for _, step := range s {
		if Verify(filepath.Join(root, DirName(step))) == nil {
			good = step
			break
		}
	}
	for i, step := range s {
		if i < keep || step == good {
			continue
		}
		p := filepath.Join(root, DirName(step))
		// Renamed first so that an interrupted removal leaves a temporary
		// directory, never a step directory with files missing.
		doomed := filepath.Join(root, tmpPrefix+"prune-"+DirName(step))
		if err := os.Rename(p, doomed); err != nil {
			return removed, fmt.Errorf("checkpoint: %w", err)
		}
		if err := os.RemoveAll(doomed); err != nil {
			return removed, fmt.Errorf("checkpoint: %w", err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}
