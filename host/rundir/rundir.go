// Package rundir guards run directories: a run writes into a directory that
// is new, or that holds the same run and is resumed. The directory keeps the
// run's resolved configuration in ConfigFile, written atomically when the run
// starts; resuming compares it key by key with the new one.
package rundir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/prefopt/prefopt/host/checkpoint"
)

// ConfigFile is the name of the resolved configuration in a run directory.
const ConfigFile = "config.toml"

// Mode says how an existing directory may be used.
type Mode struct {
	// Resume continues the run the directory holds; it requires the
	// directory, its ConfigFile and at least one checkpoint.
	Resume bool
	// Overwrite moves an existing directory aside (see Prepare) and starts
	// afresh. Exclusive with Resume.
	Overwrite bool
	// Normalize, if set, rewrites the saved configuration before it is
	// compared with the new one, e.g. parsing and resolving it again so that
	// keys added to the schema since it was saved take their defaults. A
	// saved file it cannot rewrite is compared as it is.
	Normalize func(saved []byte) ([]byte, error)
}

// Prepared says what Prepare did.
type Prepared struct {
	// MovedTo is where Overwrite moved the old directory; "" if nothing moved.
	MovedTo string
	// Changes are the safe changes a resume accepted, in key order.
	Changes []Change
}

// Change is one key whose value differs between two configurations. Old or
// New is "(absent)" when the key is missing on that side.
type Change struct {
	Key, Old, New string
}

func (c Change) String() string { return fmt.Sprintf("%s: %s -> %s", c.Key, c.Old, c.New) }

// SafeKeys are the key paths that may change on resume without breaking a
// bit-exact continuation: output names and how often the run logs,
// evaluates and checkpoints. Every other key, including keys added to the
// configuration later, is unsafe. "[*]" matches any array index.
// train.steps and train.epochs are handled apart (see stepsChange).
var SafeKeys = []string{
	"run.name",
	"run.output_dir",
	"train.log_every",
	"train.eval_every",
	"train.checkpoint_every",
	"train.keep_checkpoints",
}

// Prepare makes dir ready for the run whose resolved configuration is
// resolved, and writes it to dir/ConfigFile:
//   - a missing dir, or one that holds no output yet (see isEmpty), is
//     created or reused (an error with Resume: nothing to resume);
//   - with Overwrite, a non-empty dir is renamed to dir.old-<UTC time> first,
//     never deleted;
//   - with Resume, dir must hold ConfigFile and a checkpoint, and the new
//     configuration may differ only in SafeKeys and in more steps or epochs
//     under a schedule that does not depend on the total;
//   - any other existing dir is an error that names what differs.
func Prepare(dir string, resolved []byte, m Mode) (Prepared, error) {
	var p Prepared
	if m.Resume && m.Overwrite {
		return p, errors.New("rundir: --resume and --overwrite exclude each other")
	}
	empty, err := isEmpty(dir)
	if err != nil {
		return p, fmt.Errorf("rundir: %w", err)
	}
	if empty {
		if m.Resume {
			return p, fmt.Errorf("rundir: --resume: %s holds no run to resume (start it without --resume)", dir)
		}
		return p, start(dir, resolved)
	}
	if m.Overwrite {
		p.MovedTo = fmt.Sprintf("%s.old-%s", filepath.Clean(dir), time.Now().UTC().Format("20060102T150405.000000000Z"))
		if err := os.Rename(dir, p.MovedTo); err != nil {
			return p, fmt.Errorf("rundir: --overwrite: move %s aside: %w", dir, err)
		}
		return p, start(dir, resolved)
	}
	old, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("rundir: %s exists and is not a run directory (no %s); choose a new --out, or --overwrite to move it aside", dir, ConfigFile)
	}
	if err != nil {
		return p, fmt.Errorf("rundir: %w", err)
	}
	if m.Normalize != nil {
		if n, err := m.Normalize(old); err == nil {
			old = n
		}
	}
	changes, err := Diff(old, resolved)
	if err != nil {
		return p, fmt.Errorf("rundir: %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if !m.Resume {
		if len(changes) == 0 {
			return p, fmt.Errorf("rundir: %s already holds this run; continue it with --resume, or choose a new --out, or --overwrite to move it aside", dir)
		}
		return p, fmt.Errorf("rundir: %s holds a different run:\n%s\nchoose a new --out, or --overwrite to move it aside, or --resume if only safe keys changed", dir, list(changes))
	}
	var unsafe []string
	for _, c := range changes {
		if why := unsafeReason(c, resolved); why != "" {
			unsafe = append(unsafe, fmt.Sprintf("  %s (%s)", c, why))
		}
	}
	if len(unsafe) > 0 {
		return p, fmt.Errorf("rundir: --resume: %s cannot continue under these changes:\n%s\nchoose a new --out, or --overwrite to move the old run aside", dir, strings.Join(unsafe, "\n"))
	}
	if !hasCheckpoint(dir) {
		return p, fmt.Errorf("rundir: --resume: %s holds no checkpoint to resume from (start it without --resume, or --overwrite)", dir)
	}
	p.Changes = changes
	return p, writeAtomic(filepath.Join(dir, ConfigFile), resolved)
}

func list(cs []Change) string {
	lines := make([]string, len(cs))
	for i, c := range cs {
		lines[i] = "  " + c.String()
	}
	return strings.Join(lines, "\n")
}

// unsafeReason returns why change c breaks a bit-exact continuation, or ""
// if it does not.
func unsafeReason(c Change, newDoc []byte) string {
	if matchAny(c.Key) {
		return ""
	}
	if c.Key == "train.steps" || c.Key == "train.epochs" {
		return stepsChange(c, newDoc)
	}
	return "changes the computation; not in the resume allow-list"
}

// stepsChange allows more steps or epochs only when the learning rate at
// every step done so far stays the same: a constant schedule whose warmup
// length does not depend on the total.
func stepsChange(c Change, newDoc []byte) string {
	var o, n int64
	if _, err := fmt.Sscan(c.Old, &o); err != nil {
		return "was absent"
	}
	if _, err := fmt.Sscan(c.New, &n); err != nil {
		return "now absent"
	}
	if n < o {
		return "fewer than before"
	}
	var doc struct {
		Train struct {
			Schedule    string  `toml:"schedule"`
			WarmupSteps int64   `toml:"warmup_steps"`
			WarmupRatio float64 `toml:"warmup_ratio"`
		} `toml:"train"`
	}
	if _, err := toml.Decode(string(newDoc), &doc); err != nil {
		return err.Error()
	}
	t := doc.Train
	if t.Schedule != "constant" {
		return fmt.Sprintf("the %s schedule decays over the total, so the learning rate of every later step changes", t.Schedule)
	}
	if t.WarmupSteps == 0 && t.WarmupRatio != 0 {
		return "warmup_ratio makes the warmup length depend on the total"
	}
	return ""
}

func matchAny(key string) bool {
	for _, pat := range SafeKeys {
		if keyMatch(pat, key) {
			return true
		}
	}
	return false
}

// keyMatch matches a key path against a pattern where "[*]" stands for any
// array index.
func keyMatch(pat, key string) bool {
	for {
		i := strings.Index(pat, "[*]")
		if i < 0 {
			return pat == key
		}
		if !strings.HasPrefix(key, pat[:i+1]) {
			return false
		}
		j := strings.IndexByte(key[i+1:], ']')
		if j < 0 {
			return false
		}
		pat, key = pat[i+3:], key[i+1+j+1:]
	}
}

// Diff decodes two TOML documents and returns every key path whose value
// differs, sorted by key. Tables nest with ".", array elements with "[i]".
func Diff(oldDoc, newDoc []byte) ([]Change, error) {
	var o, n map[string]any
	if _, err := toml.Decode(string(oldDoc), &o); err != nil {
		return nil, fmt.Errorf("saved config: %w", err)
	}
	if _, err := toml.Decode(string(newDoc), &n); err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	fo, fn := map[string]any{}, map[string]any{}
	flatten("", o, fo)
	flatten("", n, fn)
	var out []Change
	for k, ov := range fo {
		nv, ok := fn[k]
		switch {
		case !ok:
			out = append(out, Change{k, show(ov), "(absent)"})
		case !reflect.DeepEqual(ov, nv):
			out = append(out, Change{k, show(ov), show(nv)})
		}
	}
	for k, nv := range fn {
		if _, ok := fo[k]; !ok {
			out = append(out, Change{k, "(absent)", show(nv)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func flatten(prefix string, v any, out map[string]any) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 && prefix != "" {
			out[prefix] = x
		}
		for k, e := range x {
			flatten(join(k), e, out)
		}
	case []map[string]any:
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	case []any:
		tables := len(x) > 0
		for _, e := range x {
			_, ok := e.(map[string]any)
			tables = tables && ok
		}
		if !tables {
			out[prefix] = x
			return
		}
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		out[prefix] = x
	}
}

// show formats a value as TOML would: strings quoted.
func show(v any) string {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]any{"v": v}); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(strings.TrimPrefix(b.String(), "v = "))
}

// isEmpty reports whether dir holds no run: it is missing, or holds nothing
// but ConfigFile and empty directories (a run that stopped before its first
// output, e.g. on a bad objective parameter).
func isEmpty(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s is not a directory", dir)
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range es {
		if e.Name() == ConfigFile {
			continue
		}
		if !e.IsDir() {
			return false, nil
		}
		sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil || len(sub) > 0 {
			return false, err
		}
	}
	return true, nil
}

// hasCheckpoint reports whether dir or one of its subdirectories (one per
// objective) holds a complete checkpoint.
func hasCheckpoint(dir string) bool {
	if _, err := checkpoint.Latest(filepath.Join(dir, "checkpoints")); err == nil {
		return true
	}
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if !e.IsDir() {
			continue
		}
		if _, err := checkpoint.Latest(filepath.Join(dir, e.Name(), "checkpoints")); err == nil {
			return true
		}
	}
	return false
}

func start(dir string, resolved []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rundir: %w", err)
	}
	return writeAtomic(filepath.Join(dir, ConfigFile), resolved)
}

// writeAtomic writes b to path through a synced temporary file renamed into
// place, so path holds the old or the new content, never a mix.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("rundir: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rundir: %w", err)
	}
	return nil
}
