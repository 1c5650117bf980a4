package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Objective is a configured preference objective. See the package
// documentation for the math contract every implementation follows.
//
// Compute must not modify b, must be safe to call repeatedly, and reports
// bad input as *InputError. Implementations in this module are safe for
// concurrent use; the host never relies on it.
type Objective interface {
	// Inputs returns the names of the batch inputs Compute reads, in
	// canonical order ([InputLess]: [Fields] order, then data columns by
	// name). It does not change after construction.
	Inputs() []string
	Compute(ctx context.Context, b *Batch) (*Result, error)
}

// Result is what an objective returns for one batch. Grads holds the
// gradients of the per-example policy inputs it read; TokenGrads those of
// the per-token policy inputs, one array per example shaped like the input.
type Result struct {
	Loss       float64                `json:"loss"`
	Losses     []float64              `json:"losses"`
	Grads      map[string][]float64   `json:"grads"`
	TokenGrads map[string][][]float64 `json:"token_grads,omitempty"`
	Metrics    map[string]float64     `json:"metrics"`
}

// Definition is what an objective package exports: its spec and a
// constructor for configured instances.
type Definition struct {
	Spec Spec
	// New builds the objective from parameters already resolved against Spec
	// (types, bounds and enums checked, defaults filled). It checks
	// constraints between parameters and reports them as *ParamError.
	New func(p Params) (Objective, error)
}

// Provider yields configured objectives: a local [Definition], or a plugin
// client that runs the objective in another process.
type Provider interface {
	Spec() Spec
	// Configure resolves user parameters and builds the objective. Problems
	// with parameters are *ParamError values.
	Configure(ctx context.Context, params map[string]any) (Objective, Params, error)
}

// Local returns a Provider that runs d in this process.
func Local(d Definition) Provider { return local{d} }

type local struct{ d Definition }

func (l local) Spec() Spec { return l.d.Spec }

func (l local) Configure(_ context.Context, raw map[string]any) (Objective, Params, error) {
	p, err := l.d.Spec.Resolve(raw)
	if err != nil {
		return nil, Params{}, err
	}
	obj, err := l.d.New(p)
	if err != nil {
		return nil, Params{}, err
	}
	return obj, p, nil
}

// CheckResult validates r as the reply to b from an objective that read
// inputs: a finite loss, one finite loss per example, a finite gradient of
// the right shape for every policy input read and for nothing else (in
// Grads for per-example inputs, in TokenGrads for per-token ones, with
// Index the example), at most [MaxMetrics] finite metrics with non-empty
// names of at most [MaxMetricNameBytes] bytes. It returns a *ReplyError.
func CheckResult(b *Batch, inputs []string, r *Result) error {
	if r == nil {
		return &ReplyError{Field: "result", Index: -1, Msg: "missing"}
	}
	if !finite(r.Loss) {
		return &ReplyError{Field: "loss", Index: -1, Msg: fmt.Sprintf("not finite (got %v)", r.Loss)}
	}
	var layout Layout
	for _, name := range inputs {
		f, _ := LookupField(name)
		if f.Policy {
			layout = f.Layout
			break
		}
	}
	if n := b.Size(layout); layout != 0 && len(r.Losses) != n {
		return &ReplyError{Field: "losses", Index: -1, Msg: fmt.Sprintf("has %d values for %d examples", len(r.Losses), n)}
	}
	if i := firstNonFinite(r.Losses); i >= 0 {
		return &ReplyError{Field: "losses", Index: i, Value: r.Losses[i], Msg: "not finite"}
	}
	want := map[string]bool{}
	for _, name := range inputs {
		f, _ := LookupField(name)
		if !f.Policy {
			continue
		}
		want[name] = true
		if f.Kind == TokenFloat {
			if err := checkTokenGrad(name, *b.Tokens(name), r.TokenGrads); err != nil {
				return err
			}
			continue
		}
		g, ok := r.Grads[name]
		if !ok {
			return &ReplyError{Field: "grads." + name, Index: -1, Msg: "missing gradient for a policy input"}
		}
		if len(g) != b.Len(name) {
			return &ReplyError{Field: "grads." + name, Index: -1, Msg: fmt.Sprintf("has %d values for %d inputs", len(g), b.Len(name))}
		}
		if i := firstNonFinite(g); i >= 0 {
			return &ReplyError{Field: "grads." + name, Index: i, Value: g[i], Msg: "not finite"}
		}
	}
	for _, name := range sortedKeys(r.Grads) {
		if f, _ := LookupField(name); !want[name] || f.Kind == TokenFloat {
			return &ReplyError{Field: "grads." + name, Index: -1, Msg: "gradient for an input that is not a per-example policy input the objective read"}
		}
	}
	for _, name := range sortedKeys(r.TokenGrads) {
		if f, _ := LookupField(name); !want[name] || f.Kind != TokenFloat {
			return &ReplyError{Field: "token_grads." + name, Index: -1, Msg: "gradient for an input that is not a per-token policy input the objective read"}
		}
	}
	if len(r.Metrics) > MaxMetrics {
		return &ReplyError{Field: "metrics", Index: -1, Msg: fmt.Sprintf("has %d metrics, more than the %d allowed", len(r.Metrics), MaxMetrics)}
	}
	for _, name := range sortedKeys(r.Metrics) {
		if name == "" || len(name) > MaxMetricNameBytes {
			return &ReplyError{Field: "metrics." + clip(name, 32), Index: -1, Msg: fmt.Sprintf("name must be 1 to %d bytes, got %d", MaxMetricNameBytes, len(name))}
		}
		if v := r.Metrics[name]; !finite(v) {
			return &ReplyError{Field: "metrics." + name, Index: -1, Msg: fmt.Sprintf("not finite (got %v)", v)}
		}
	}
	return nil
}

// checkTokenGrad checks that grads[name] has the ragged shape of in and is
// finite.
func checkTokenGrad(name string, in [][]float64, grads map[string][][]float64) error {
	field := "token_grads." + name
	g, ok := grads[name]
	if !ok {
		return &ReplyError{Field: field, Index: -1, Msg: "missing gradient for a policy input"}
	}
	if len(g) != len(in) {
		return &ReplyError{Field: field, Index: -1, Msg: fmt.Sprintf("has %d arrays for %d examples", len(g), len(in))}
	}
	for i, row := range g {
		if len(row) != len(in[i]) {
			return &ReplyError{Field: field, Index: i, Value: float64(len(row)),
				Msg: fmt.Sprintf("has %d values for %d tokens", len(row), len(in[i]))}
		}
		if t := firstNonFinite(row); t >= 0 {
			return &ReplyError{Field: field, Index: i, Value: row[t], Msg: fmt.Sprintf("token %d not finite", t)}
		}
	}
	return nil
}

// Limits on the metrics of one [Result], checked by [CheckResult]. A step
// logs every metric, so they bound what one reply can add to each log line:
// the built-in objectives report at most a dozen metrics with names under
// 40 bytes.
const (
	MaxMetrics         = 256
	MaxMetricNameBytes = 128
)

// clip returns s cut to at most n bytes, marked with "…" when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func firstNonFinite(xs []float64) int {
	for i, v := range xs {
		if !finite(v) {
			return i
		}
	}
	return -1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Definition{}
)

// Register makes an objective available by its spec name. It panics if the
// name is empty or already registered, or the spec is invalid: these are
// programmer errors found at init.
func Register(d Definition) {
	if err := d.Spec.Validate(); err != nil {
		panic("core: Register: " + err.Error())
	}
	if d.New == nil {
		panic("core: Register: " + d.Spec.Name + " has no constructor")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[d.Spec.Name]; dup {
		panic("core: Register called twice for objective " + d.Spec.Name)
	}
	registry[d.Spec.Name] = d
}

// Lookup returns the registered objective with the given name, or an error
// listing the known names.
func Lookup(name string) (Definition, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	if d, ok := registry[name]; ok {
		return d, nil
	}
	return Definition{}, fmt.Errorf("core: unknown objective %q (known: %s)", name, strings.Join(registeredNames(), ", "))
}

// Registered returns the names of the registered objectives, sorted.
func Registered() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registeredNames()
}

func registeredNames() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ErrNotConfigured is returned by a plugin asked to compute before it was
// configured.
var ErrNotConfigured = errors.New("objective not configured")
