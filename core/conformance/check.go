package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prefopt/prefopt/core"
)

// Options tunes [Check].
type Options struct {
	// Timeout bounds every call to the provider (Configure, Compute); a call
	// past it fails its check and no further calls are made. 0 means 10 s.
	Timeout time.Duration
	// SkipLatency leaves out the latency measurement.
	SkipLatency bool
	// LatencySizes are the batch sizes whose Compute latency is measured;
	// nil means 16, 64 and 1024 examples.
	LatencySizes []int
	// LatencyCalls is the number of timed Compute calls per size, after 3
	// untimed ones; 0 means 100.
	LatencyCalls int
}

// Outcome is the result of one named check.
type Outcome struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Detail says what failed, with the numbers; for a passing check it may
	// carry a note (e.g. points skipped near kinks).
	Detail string `json:"detail,omitempty"`
	// Numbers are figures the check measured, by name.
	Numbers map[string]float64 `json:"numbers,omitempty"`
}

// Latency is the Compute latency at one batch size, measured from the
// caller's side (through the RPC boundary for a plugin).
type Latency struct {
	Examples int     `json:"examples"`
	Calls    int     `json:"calls"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
}

// Report is the outcome of [Check], in the order the checks ran.
type Report struct {
	Objective string         `json:"objective"`
	Version   string         `json:"version"`
	Params    map[string]any `json:"params"`
	Inputs    []string       `json:"inputs"`
	Checks    []Outcome      `json:"checks"`
	Latency   []Latency      `json:"latency,omitempty"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Checks, func(o Outcome) bool { return !o.Passed })
}

// WriteText writes r for people: one line per check, "PASS name" or
// "FAIL name: detail", then the latency table and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "objective %s %s, params %s, inputs %s\n", r.Objective, r.Version, formatParams(r.Params), strings.Join(r.Inputs, ", "))
	failed := 0
	for _, o := range r.Checks {
		status := "PASS"
		if !o.Passed {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(&b, "%s %s", status, o.Name)
		if o.Detail != "" {
			fmt.Fprintf(&b, ": %s", strings.ReplaceAll(o.Detail, "\n", "\n     "))
		}
		b.WriteByte('\n')
	}
	if len(r.Latency) > 0 {
		b.WriteString("compute latency  examples  calls  p50 ms   p99 ms\n")
		for _, l := range r.Latency {
			fmt.Fprintf(&b, "                 %8d  %5d  %7.3f  %7.3f\n", l.Examples, l.Calls, l.P50Ms, l.P99Ms)
		}
	}
	if failed > 0 {
		fmt.Fprintf(&b, "FAIL: %d of %d checks failed\n", failed, len(r.Checks))
	} else {
		fmt.Fprintf(&b, "ok: %d checks passed\n", len(r.Checks))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes r as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func formatParams(p map[string]any) string {
	if len(p) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(p))
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, p[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Check runs the conformance suite on the objective p configures from params
// and returns the report; it never panics on a misbehaving objective and
// every call it makes is bounded by opts.Timeout. The checks, in order:
//
//   - spec: a lower-case name, a version, valid parameter specs (types,
//     defaults within bounds and enums, bounds only on numbers and number
//     lists, enums only on strings and string lists, Min ≤ Max, MinItems ≤
//     MaxItems);
//   - params/unknown, params/invalid: an unknown parameter, a value of the
//     wrong type, out of bounds or outside the enum (for a list, a list
//     holding one such element, and an empty list below MinItems) is
//     refused with a *core.ParamError naming the parameter;
//   - configure, inputs: params configure; Inputs are known names in
//     core.InputLess order (core.Fields, then data columns by name) with at
//     least one policy input, one layout, and the length input of every
//     per-token input;
//   - valid_result, loss_is_mean_of_losses, gradient: on seeded random
//     batches of 1, 3 and 17 examples shaped by Inputs, a valid result, Loss
//     = mean(Losses), and every policy gradient equal to a central finite
//     difference of Loss, per-token gradients (Result.TokenGrads) token by
//     token (points within a step of a kink are skipped, at most
//     maxKinkFraction of them; policy_kl_logps may be detached);
//   - not_mutated: Compute leaves the batch unchanged (token arrays and data
//     columns included), and its reply does not depend on the calls made
//     before it;
//   - deterministic: the same batch gives the same bits (token gradients
//     included), also from an objective configured again with the same
//     params;
//   - extreme_inputs: finite, valid results at margins of ±3000 nats,
//     per-token averages near 0, 10000-token completions, score gaps of
//     1e-3 and 1e3 between data columns;
//   - bad_input: a typed *core.InputError with the right code, field and
//     index for missing, mis-sized, non-finite and negative inputs, a
//     non-finite token, a token array longer than its length, and an
//     empty batch; zero completion lengths (chosen_lengths,
//     rejected_lengths, lengths) are refused only because an objective reads
//     them to average over completion tokens; other zero counts may be
//     accepted;
//   - latency: Compute latency at 16, 64 and 1024 examples (unless
//     opts.SkipLatency); it fails only if a call fails.
//
// A check that cannot run because an earlier one failed fatally (configure,
// inputs, or a call past its deadline) is reported as failed, saying why.
func Check(ctx context.Context, p core.Provider, params map[string]any, opts Options) *Report {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.LatencySizes == nil {
		opts.LatencySizes = []int{16, 64, 1024}
	}
	if opts.LatencyCalls == 0 {
		opts.LatencyCalls = 100
	}
	spec := p.Spec()
	c := &checker{ctx: ctx, opts: opts, rep: &Report{Objective: spec.Name, Version: spec.Version, Params: maps.Clone(params)}}
	if c.rep.Params == nil {
		c.rep.Params = map[string]any{}
	}
	c.run("spec", func(s *state) { checkSpec(s, spec) })
	c.run("params/unknown", func(s *state) { c.checkUnknownParam(s, p, spec, params) })
	c.run("params/invalid", func(s *state) { c.checkInvalidParams(s, p, spec, params) })

	var obj core.Objective
	c.run("configure", func(s *state) {
		o, err := c.configure(p, params)
		if err != nil {
			s.fatalf("configure %s with %s: %v", spec.Name, formatParams(params), err)
			return
		}
		obj = o
		c.rep.Inputs = o.Inputs()
	})
	inputs := c.rep.Inputs
	c.run("inputs", func(s *state) { checkInputs(s, inputs) })
	var batches []namedBatch
	if c.stop == "" {
		batches = randomBatches(inputs)
	}

	c.run("valid_result", func(s *state) {
		for _, nb := range batches {
			if r, ok := c.compute(s, obj, nb.name, nb.b); ok {
				if err := core.CheckResult(nb.b, inputs, r); err != nil {
					s.errorf("%s: %v", nb.name, err)
				}
			}
		}
	})
	c.run("loss_is_mean_of_losses", func(s *state) {
		for _, nb := range batches {
			if r, ok := c.compute(s, obj, nb.name, nb.b); ok {
				checkLossMean(s, nb.name, r)
			}
		}
	})
	c.run("gradient", func(s *state) { c.checkGradients(s, obj, inputs, batches) })
	c.run("not_mutated", func(s *state) { c.checkNotMutated(s, obj, batches) })
	c.run("deterministic", func(s *state) {
		again, err := c.configure(p, params)
		if err != nil {
			s.errorf("configure again: %v", err)
			return
		}
		for _, nb := range batches {
			want, ok1 := c.compute(s, obj, nb.name, nb.b)
			same, ok2 := c.compute(s, obj, nb.name, nb.b)
			re, ok3 := c.compute(s, again, nb.name, nb.b)
			if !ok1 || !ok2 || !ok3 {
				continue
			}
			compareIdentical(s, nb.name+" (same batch twice)", want, same)
			compareIdentical(s, nb.name+" (configured again)", want, re)
		}
	})
	c.run("extreme_inputs", func(s *state) {
		ext := extremeBatches(inputs)
		for _, name := range slices.Sorted(maps.Keys(ext)) {
			b := ext[name]
			r, ok := c.compute(s, obj, name, b)
			if !ok {
				continue
			}
			if err := core.CheckResult(b, inputs, r); err != nil {
				s.errorf("%s: %v", name, err)
				continue
			}
			checkLossMean(s, name, r)
		}
	})
	c.run("bad_input", func(s *state) { c.checkBadInput(s, obj, inputs) })
	if !opts.SkipLatency {
		c.run("latency", func(s *state) { c.measureLatency(s, obj, inputs) })
	}
	return c.rep
}

// maxDetails is the number of problems a check lists before summarising.
const maxDetails = 5

// state collects the problems of one check.
type state struct {
	problems int
	lines    []string
	notes    []string
	numbers  map[string]float64
	fatal    bool
}

func (s *state) errorf(format string, a ...any) {
	s.problems++
	if len(s.lines) < maxDetails {
		s.lines = append(s.lines, fmt.Sprintf(format, a...))
	}
}

// fatalf records a problem that stops every later check.
func (s *state) fatalf(format string, a ...any) {
	s.errorf(format, a...)
	s.fatal = true
}

func (s *state) notef(format string, a ...any) { s.notes = append(s.notes, fmt.Sprintf(format, a...)) }

// number records a figure; a non-finite one is left out, so the report
// stays valid JSON.
func (s *state) number(name string, v float64) {
	if !isFinite(v) {
		return
	}
	if s.numbers == nil {
		s.numbers = map[string]float64{}
	}
	s.numbers[name] = v
}

type checker struct {
	ctx  context.Context
	opts Options
	rep  *Report
	// stop, once set, says why no further calls are made.
	stop string
}

// run runs one check and appends its outcome. A panic in the check (an
// objective that panics in process) fails the check instead of the caller.
func (c *checker) run(name string, f func(*state)) {
	if c.stop != "" {
		c.rep.Checks = append(c.rep.Checks, Outcome{Name: name, Detail: "not run: " + c.stop})
		return
	}
	s := &state{}
	func() {
		defer func() {
			if v := recover(); v != nil {
				s.fatalf("panic: %v", v)
			}
		}()
		f(s)
	}()
	o := Outcome{Name: name, Passed: s.problems == 0, Numbers: s.numbers}
	lines := s.lines
	if s.problems > len(lines) {
		lines = append(lines, fmt.Sprintf("... and %d more", s.problems-len(lines)))
	}
	o.Detail = strings.Join(append(lines, s.notes...), "\n")
	c.rep.Checks = append(c.rep.Checks, o)
	if s.fatal && c.stop == "" {
		c.stop = name + " failed"
	}
}

var (
	// errTimeout marks a call that outlived Options.Timeout.
	errTimeout = errors.New("conformance: call timed out")
	// errStopped is returned for calls after a timeout: none is made.
	errStopped = errors.New("conformance: no further calls after a timeout")
)

// deadlineSlack is how close to its deadline a failed call counts as timed
// out: a transport enforcing the same deadline may fire a little earlier.
const deadlineSlack = 5 * time.Millisecond

// call runs f with a deadline of opts.Timeout. It returns when f does or
// when the deadline passes, whichever is first, so an objective that
// ignores its context cannot hang the suite; after a timeout every later
// call fails at once.
func call[T any](c *checker, what string, f func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if c.stop != "" {
		return zero, errStopped
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.Timeout)
	defer cancel()
	type reply struct {
		v   T
		err error
	}
	done := make(chan reply, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- reply{err: &core.InternalError{Msg: fmt.Sprintf("panic: %v", v)}}
			}
		}()
		v, err := f(ctx)
		done <- reply{v, err}
	}()
	select {
	case r := <-done:
		// An error at the deadline (a transport that enforces the same
		// deadline a moment earlier) is a timeout too.
		if dl, _ := ctx.Deadline(); r.err != nil && time.Until(dl) < deadlineSlack && c.ctx.Err() == nil {
			break
		}
		return r.v, r.err
	case <-ctx.Done():
	}
	if c.ctx.Err() != nil {
		c.stop = "interrupted: " + c.ctx.Err().Error()
		return zero, c.ctx.Err()
	}
	c.stop = fmt.Sprintf("%s did not answer within %v", what, c.opts.Timeout)
	return zero, errTimeout
}

func (c *checker) configure(p core.Provider, params map[string]any) (core.Objective, error) {
	type pair struct{ obj core.Objective }
	r, err := call(c, "Configure", func(ctx context.Context) (pair, error) {
		o, _, err := p.Configure(ctx, params)
		return pair{o}, err
	})
	return r.obj, err
}

// compute calls obj.Compute and reports an error, or a nil result, as a
// problem of s named by what.
func (c *checker) compute(s *state, obj core.Objective, what string, b *core.Batch) (*core.Result, bool) {
	r, err := c.computeErr(obj, b)
	if err != nil {
		switch {
		case errors.Is(err, errStopped):
		case errors.Is(err, errTimeout):
			s.fatalf("%s: %s", what, c.stop)
		default:
			s.errorf("%s: compute: %v", what, err)
		}
		return nil, false
	}
	if r == nil {
		s.errorf("%s: compute returned no result and no error", what)
		return nil, false
	}
	return r, true
}

func (c *checker) computeErr(obj core.Objective, b *core.Batch) (*core.Result, error) {
	return call(c, "Compute", func(ctx context.Context) (*core.Result, error) { return obj.Compute(ctx, b) })
}

// checkSpec checks what Spec.Validate does not: naming and the coherence of
// bounds and enums.
func checkSpec(s *state, spec core.Spec) {
	if err := spec.Validate(); err != nil {
		s.errorf("%v", err)
	}
	if spec.Name != strings.ToLower(spec.Name) || strings.ContainsAny(spec.Name, " \t") {
		s.errorf("name %q: want lower case without spaces", spec.Name)
	}
	if spec.Version == "" {
		s.errorf("version is empty: want a semantic version of the objective's math and params")
	}
	for i, ps := range spec.Params {
		where := fmt.Sprintf("params[%d] %q", i, ps.Name)
		elem := ps.Type.Elem()
		numeric := elem == core.TypeFloat || elem == core.TypeInt
		if !numeric && (ps.Min != nil || ps.Max != nil) {
			s.errorf("%s: bounds on a %v parameter", where, ps.Type)
		}
		if ps.Type.IsList() && ps.MaxItems > 0 && ps.MinItems > ps.MaxItems {
			s.errorf("%s: empty item range: at least %d, at most %d elements", where, ps.MinItems, ps.MaxItems)
		}
		if ps.Min != nil && ps.Max != nil && (*ps.Min > *ps.Max || *ps.Min == *ps.Max && (ps.MinExclusive || ps.MaxExclusive)) {
			s.errorf("%s: empty range %s", where, ps.BoundsText())
		}
		if len(ps.Enum) > 0 && elem != core.TypeString {
			s.errorf("%s: enum on a %v parameter", where, ps.Type)
		}
		seen := map[string]bool{}
		for _, e := range ps.Enum {
			if seen[e] {
				s.errorf("%s: enum value %q listed twice", where, e)
			}
			seen[e] = true
		}
		if ps.Doc == "" {
			s.errorf("%s: no doc", where)
		}
	}
}

const unknownParam = "conformance_no_such_param"

func (c *checker) checkUnknownParam(s *state, p core.Provider, spec core.Spec, params map[string]any) {
	bad := maps.Clone(params)
	if bad == nil {
		bad = map[string]any{}
	}
	bad[unknownParam] = 1.0
	c.expectParamError(s, p, bad, unknownParam, "unknown parameter")
}

// invalidValues returns values of ps that its spec refuses, by description.
// For a list parameter these are lists of one invalid element and, when
// the spec asks for elements, an empty list.
func invalidValues(ps core.ParamSpec) map[string]any {
	if ps.Type.IsList() {
		elem := ps
		elem.Type = ps.Type.Elem()
		out := map[string]any{}
		for what, v := range invalidValues(elem) {
			out["a list holding "+what] = []any{v}
		}
		if ps.MinItems > 0 {
			out[fmt.Sprintf("an empty list, fewer than %d elements", ps.MinItems)] = []any{}
		}
		return out
	}
	out := map[string]any{}
	switch ps.Type {
	case core.TypeFloat:
		out["a string"] = "x"
		out["NaN"] = math.NaN()
	case core.TypeInt:
		out["a string"] = "x"
		out["a non-integer"] = 1.5
	case core.TypeBool:
		out["a string"] = "true"
	case core.TypeString:
		out["a number"] = 1.0
		if len(ps.Enum) > 0 {
			out["a value outside the enum"] = "conformance-not-an-option"
		}
	}
	if ps.Min != nil {
		v := *ps.Min - 1
		if ps.MinExclusive {
			v = *ps.Min
		}
		out[fmt.Sprintf("%v, below %s", v, ps.BoundsText())] = numberFor(ps, v)
	}
	if ps.Max != nil {
		v := *ps.Max + 1
		if ps.MaxExclusive {
			v = *ps.Max
		}
		out[fmt.Sprintf("%v, above %s", v, ps.BoundsText())] = numberFor(ps, v)
	}
	return out
}

func numberFor(ps core.ParamSpec, v float64) any {
	if ps.Type == core.TypeInt {
		return int64(math.Floor(v))
	}
	return v
}

func (c *checker) checkInvalidParams(s *state, p core.Provider, spec core.Spec, params map[string]any) {
	tried := 0
	for _, ps := range spec.Params {
		vals := invalidValues(ps)
		for _, what := range slices.Sorted(maps.Keys(vals)) {
			bad := maps.Clone(params)
			if bad == nil {
				bad = map[string]any{}
			}
			bad[ps.Name] = vals[what]
			tried++
			c.expectParamError(s, p, bad, ps.Name, what)
		}
	}
	s.number("cases", float64(tried))
}

// expectParamError configures p with bad and expects a *core.ParamError
// naming param.
func (c *checker) expectParamError(s *state, p core.Provider, bad map[string]any, param, what string) {
	_, err := c.configure(p, bad)
	var pe *core.ParamError
	switch {
	case errors.Is(err, errTimeout), errors.Is(err, errStopped):
		s.fatalf("%s = %s: %s", param, what, c.stop)
	case err == nil:
		s.errorf("%s = %s (%v): accepted, want a parameter diagnostic", param, what, bad[param])
	case !errors.As(err, &pe):
		s.errorf("%s = %s: want *core.ParamError (code invalid_param), got %T: %v", param, what, err, err)
	case !errorNames(err, param):
		s.errorf("%s = %s: the diagnostic does not name %q: %v", param, what, param, err)
	}
}

// errorNames reports whether some *core.ParamError in err names param.
func errorNames(err error, param string) bool {
	var pe *core.ParamError
	if errors.As(err, &pe) && pe.Param == param {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if errorNames(e, param) {
				return true
			}
		}
	}
	return false
}

func checkInputs(s *state, inputs []string) {
	if len(inputs) == 0 {
		s.fatalf("Inputs() is empty")
		return
	}
	policy := 0
	var layout core.Layout
	for k, name := range inputs {
		f, ok := core.LookupField(name)
		if !ok {
			s.fatalf("Inputs() names unknown input %q", name)
			continue
		}
		if k > 0 && !core.InputLess(inputs[k-1], name) {
			s.fatalf("Inputs() must follow core.Fields order, then data columns by name, without repeats: %v", inputs)
		}
		if f.Kind == core.TokenFloat && !slices.Contains(inputs, f.Lengths) {
			s.fatalf("Inputs() reads %s and must read its lengths %s: %v", name, f.Lengths, inputs)
		}
		if f.Policy {
			policy++
			if layout == 0 {
				layout = f.Layout
			}
			if layout != f.Layout {
				s.fatalf("policy inputs of one objective share a layout: %v", inputs)
			}
		}
	}
	if policy == 0 {
		s.fatalf("Inputs() names no policy input: %v", inputs)
	}
}

func checkLossMean(s *state, name string, r *core.Result) {
	if len(r.Losses) == 0 {
		s.errorf("%s: no per-example losses", name)
		return
	}
	var sum, abs float64
	for _, l := range r.Losses {
		sum += l
		abs += math.Abs(l)
	}
	n := float64(len(r.Losses))
	if !isFinite(r.Loss) {
		s.errorf("%s: loss %v", name, r.Loss)
		return
	}
	if d, tol := math.Abs(sum/n-r.Loss), lossMeanTol*(1+abs/n); !(d <= tol) {
		s.errorf("%s: Loss %v but mean(Losses) %v (|Δ| %.3g > %.3g)", name, r.Loss, sum/n, d, tol)
	}
}

// checkGradients compares every element of every policy gradient with a
// central difference of Loss. Points where the analytic gradient itself is
// not locally linear across [x−h, x+h] (second difference above the
// tolerance) lie within a step of a kink, such as hinge's relu or a clamp;
// they are skipped and counted. It returns the number of skipped points.
func (c *checker) checkGradients(s *state, obj core.Objective, inputs []string, batches []namedBatch) int {
	var checked, kinks, detached int
	var worst float64 // largest |analytic − numeric| / tolerance
	for _, nb := range batches {
		base, ok := c.compute(s, obj, nb.name, nb.b)
		if !ok {
			continue
		}
		for _, name := range inputs {
			f, _ := core.LookupField(name)
			if !f.Policy {
				continue
			}
			if f.Kind == core.TokenFloat {
				w, ok := c.checkTokenGradients(s, obj, nb, name, base, &checked, &kinks)
				worst = math.Max(worst, w)
				if !ok {
					return kinks
				}
				continue
			}
			g := base.Grads[name]
			if len(g) != nb.b.Len(name) {
				s.errorf("%s: grads.%s has %d values for %d inputs", nb.name, name, len(g), nb.b.Len(name))
				continue
			}
			if slices.Contains(detachable, name) && nb.opt.klPositive && allZero(g) {
				detached++
				continue
			}
			for i := range g {
				checked++
				at := func(x float64) (*core.Result, bool) {
					b := nb.b.Clone()
					(*b.Floats(name))[i] = x
					r, ok := c.compute(s, obj, fmt.Sprintf("%s: %s[%d] = %v", nb.name, name, i, x), b)
					if ok && len(r.Grads[name]) != len(g) {
						s.errorf("%s: grads.%s has %d values at a shifted point", nb.name, name, len(r.Grads[name]))
						return nil, false
					}
					return r, ok
				}
				x := (*nb.b.Floats(name))[i]
				h := fdRelStep * math.Max(1, math.Abs(x))
				plus, ok1 := at(x + h)
				minus, ok2 := at(x - h)
				if !ok1 || !ok2 {
					if c.stop != "" {
						return kinks
					}
					continue
				}
				// (x+h) − (x−h) is the step actually taken after rounding.
				numeric := (plus.Loss - minus.Loss) / ((x + h) - (x - h))
				tol := gradAbsTol + gradRelTol*math.Max(math.Abs(g[i]), math.Abs(numeric))
				second := plus.Grads[name][i] - 2*g[i] + minus.Grads[name][i]
				if math.Abs(second) > gradAbsTol+gradRelTol*maxAbs(plus.Grads[name][i], g[i], minus.Grads[name][i]) {
					kinks++
					continue
				}
				if !isFinite(numeric) {
					s.errorf("%s: %s[%d]: finite difference %v", nb.name, name, i, numeric)
					continue
				}
				d := math.Abs(numeric - g[i])
				if isFinite(d) {
					worst = math.Max(worst, d/tol)
				}
				if !(d <= tol) {
					s.errorf("%s: grads.%s[%d] at x=%v: analytic %.10g, finite difference %.10g (|Δ| %.3g > tol %.3g)",
						nb.name, name, i, x, g[i], numeric, d, tol)
				}
			}
		}
	}
	if float64(kinks) > maxKinkFraction*float64(checked) {
		s.errorf("%d of %d gradient checks skipped near kinks (at most %.0f%% may be): the gradient is discontinuous, or depends on earlier calls",
			kinks, checked, 100*maxKinkFraction)
	} else if kinks > 0 {
		s.notef("%d of %d points skipped within a step of a kink", kinks, checked)
	}
	s.number("points", float64(checked))
	s.number("kinks_skipped", float64(kinks))
	s.number("worst_error_over_tol", worst)
	if detached > 0 {
		s.notef("%s: all-zero gradient at a positive KL estimate in %d batches, treated as detached", core.PolicyKLLogps, detached)
	}
	return kinks
}

// checkTokenGradients is the gradient check for every token of the
// per-token policy input name, adding to *checked and *kinks. It returns
// the largest |analytic − numeric| / tolerance seen, and false once no
// further calls can be made.
func (c *checker) checkTokenGradients(s *state, obj core.Objective, nb namedBatch, name string, base *core.Result, checked, kinks *int) (float64, bool) {
	var worst float64
	rows := *nb.b.Tokens(name)
	g := base.TokenGrads[name]
	if len(g) != len(rows) {
		s.errorf("%s: token_grads.%s has %d arrays for %d examples", nb.name, name, len(g), len(rows))
		return worst, true
	}
	// gradAt returns the gradient at [i][k] of r, false if r's arrays are
	// shaped unlike the batch's.
	gradAt := func(r *core.Result, i, k int) (float64, bool) {
		tg := r.TokenGrads[name]
		if len(tg) != len(rows) || len(tg[i]) != len(rows[i]) {
			return 0, false
		}
		return tg[i][k], true
	}
	for i, row := range rows {
		if len(g[i]) != len(row) {
			s.errorf("%s: token_grads.%s[%d] has %d values for %d tokens", nb.name, name, i, len(g[i]), len(row))
			continue
		}
		for k, x := range row {
			*checked++
			at := func(x float64) (*core.Result, bool) {
				b := nb.b.Clone()
				(*b.Tokens(name))[i][k] = x
				return c.compute(s, obj, fmt.Sprintf("%s: %s[%d][%d] = %v", nb.name, name, i, k, x), b)
			}
			h := fdRelStep * math.Max(1, math.Abs(x))
			plus, ok1 := at(x + h)
			minus, ok2 := at(x - h)
			if !ok1 || !ok2 {
				if c.stop != "" {
					return worst, false
				}
				continue
			}
			gp, okp := gradAt(plus, i, k)
			gm, okm := gradAt(minus, i, k)
			if !okp || !okm {
				s.errorf("%s: token_grads.%s is shaped differently at a shifted point", nb.name, name)
				continue
			}
			// (x+h) − (x−h) is the step actually taken after rounding.
			numeric := (plus.Loss - minus.Loss) / ((x + h) - (x - h))
			if second := gp - 2*g[i][k] + gm; math.Abs(second) > gradAbsTol+gradRelTol*maxAbs(gp, g[i][k], gm) {
				*kinks++
				continue
			}
			if !isFinite(numeric) {
				s.errorf("%s: %s[%d][%d]: finite difference %v", nb.name, name, i, k, numeric)
				continue
			}
			tol := gradAbsTol + gradRelTol*math.Max(math.Abs(g[i][k]), math.Abs(numeric))
			d := math.Abs(numeric - g[i][k])
			if isFinite(d) {
				worst = math.Max(worst, d/tol)
			}
			if !(d <= tol) {
				s.errorf("%s: token_grads.%s[%d][%d] at x=%v: analytic %.10g, finite difference %.10g (|Δ| %.3g > tol %.3g)",
					nb.name, name, i, k, x, g[i][k], numeric, d, tol)
			}
		}
	}
	return worst, true
}

// checkNotMutated checks that Compute leaves its batch unchanged (this
// matters in process; through a plugin the batch is a copy) and that its
// reply does not depend on the calls made before it: every batch computed
// again in reverse order, after the others, gives the same bits. A plugin
// that keeps the batches it received and lets them change later replies
// fails the second part.
func (c *checker) checkNotMutated(s *state, obj core.Objective, batches []namedBatch) {
	first := make([]*core.Result, len(batches))
	var mutated int
	var firstMutation string
	for i, nb := range batches {
		b := nb.b.Clone()
		r, ok := c.compute(s, obj, nb.name, b)
		if !ok {
			continue
		}
		first[i] = r
		if diff := batchDiff(nb.b, b); diff != "" {
			if mutated++; mutated == 1 {
				firstMutation = nb.name + ": " + diff
			}
		}
	}
	if mutated > 0 {
		s.errorf("Compute modified the batch in %d of %d calls; first: %s", mutated, len(batches), firstMutation)
	}
	history := &state{}
	for i := len(batches) - 1; i >= 0; i-- {
		if first[i] == nil {
			continue
		}
		if r, ok := c.compute(s, obj, batches[i].name, batches[i].b.Clone()); ok {
			compareIdentical(history, batches[i].name, first[i], r)
		}
	}
	if history.problems > 0 {
		s.errorf("the reply depends on earlier calls: %d of %d batches computed again after the others differ; first: %s",
			history.problems, len(batches), history.lines[0])
	}
}

// batchDiff describes the first difference between a and b, "" if none.
func batchDiff(a, b *core.Batch) string {
	for _, f := range core.Fields {
		switch f.Kind {
		case core.Float:
			if d := floatsDiff(f.Name, *a.Floats(f.Name), *b.Floats(f.Name)); d != "" {
				return d
			}
		case core.TokenFloat:
			x, y := *a.Tokens(f.Name), *b.Tokens(f.Name)
			if len(x) != len(y) {
				return fmt.Sprintf("%s has %d arrays, had %d", f.Name, len(y), len(x))
			}
			for i := range x {
				if d := floatsDiff(fmt.Sprintf("%s[%d]", f.Name, i), x[i], y[i]); d != "" {
					return d
				}
			}
		case core.Count:
			if i := firstDiff(*a.Counts(f.Name), *b.Counts(f.Name)); i >= 0 {
				return fmt.Sprintf("%s changed at index %d", f.Name, i)
			}
		case core.Bool:
			if i := firstDiff(*a.Bools(f.Name), *b.Bools(f.Name)); i >= 0 {
				return fmt.Sprintf("%s changed at index %d", f.Name, i)
			}
		}
	}
	an, bn := columnNames(a), columnNames(b)
	if !slices.Equal(an, bn) {
		return fmt.Sprintf("data columns are %v, were %v", bn, an)
	}
	for k, col := range a.Columns {
		if d := floatsDiff(col.Name, col.Values, b.Columns[k].Values); d != "" {
			return d
		}
	}
	return ""
}

// floatsDiff describes the first difference between the values x had and
// the values y has of the input named name, "" if none.
func floatsDiff(name string, x, y []float64) string {
	if len(x) != len(y) {
		return fmt.Sprintf("%s has %d values, had %d", name, len(y), len(x))
	}
	for i := range x {
		if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
			return fmt.Sprintf("%s[%d] is %v, was %v", name, i, y[i], x[i])
		}
	}
	return ""
}

func columnNames(b *core.Batch) []string {
	out := make([]string, len(b.Columns))
	for i, c := range b.Columns {
		out[i] = c.Name
	}
	return out
}

func firstDiff[T comparable](x, y []T) int {
	for i := range max(len(x), len(y)) {
		if i >= len(x) || i >= len(y) || x[i] != y[i] {
			return i
		}
	}
	return -1
}

// compareIdentical records a problem unless got equals want bit for bit.
func compareIdentical(s *state, name string, want, got *core.Result) {
	diff := func(field string, w, g float64) {
		s.errorf("%s: %s is %v, was %v (Δ %.3g)", name, field, g, w, g-w)
	}
	if math.Float64bits(want.Loss) != math.Float64bits(got.Loss) {
		diff("loss", want.Loss, got.Loss)
		return
	}
	if i := firstDiff(bits(want.Losses), bits(got.Losses)); i >= 0 {
		if i < len(want.Losses) && i < len(got.Losses) {
			diff(fmt.Sprintf("losses[%d]", i), want.Losses[i], got.Losses[i])
		} else {
			s.errorf("%s: %d losses, was %d", name, len(got.Losses), len(want.Losses))
		}
		return
	}
	if w, g := slices.Sorted(maps.Keys(want.Grads)), slices.Sorted(maps.Keys(got.Grads)); !slices.Equal(w, g) {
		s.errorf("%s: gradients for %v, was %v", name, g, w)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want.Grads)) {
		w, g := want.Grads[k], got.Grads[k]
		if i := firstDiff(bits(w), bits(g)); i >= 0 {
			if i < len(w) && i < len(g) {
				diff(fmt.Sprintf("grads.%s[%d]", k, i), w[i], g[i])
			} else {
				s.errorf("%s: grads.%s has %d values, had %d", name, k, len(g), len(w))
			}
			return
		}
	}
	if w, g := slices.Sorted(maps.Keys(want.TokenGrads)), slices.Sorted(maps.Keys(got.TokenGrads)); !slices.Equal(w, g) {
		s.errorf("%s: token gradients for %v, was %v", name, g, w)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want.TokenGrads)) {
		w, g := want.TokenGrads[k], got.TokenGrads[k]
		if len(w) != len(g) {
			s.errorf("%s: token_grads.%s has %d arrays, had %d", name, k, len(g), len(w))
			return
		}
		for i := range w {
			if j := firstDiff(bits(w[i]), bits(g[i])); j >= 0 {
				if j < len(w[i]) && j < len(g[i]) {
					diff(fmt.Sprintf("token_grads.%s[%d][%d]", k, i, j), w[i][j], g[i][j])
				} else {
					s.errorf("%s: token_grads.%s[%d] has %d values, had %d", name, k, i, len(g[i]), len(w[i]))
				}
				return
			}
		}
	}
	if w, g := slices.Sorted(maps.Keys(want.Metrics)), slices.Sorted(maps.Keys(got.Metrics)); !slices.Equal(w, g) {
		s.errorf("%s: metrics %v, was %v", name, g, w)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want.Metrics)) {
		if math.Float64bits(want.Metrics[k]) != math.Float64bits(got.Metrics[k]) {
			diff("metrics."+k, want.Metrics[k], got.Metrics[k])
			return
		}
	}
}

// checkBadInput plants one problem at a time in a valid batch of 5 and
// expects the matching *core.InputError.
func (c *checker) checkBadInput(s *state, obj core.Objective, inputs []string) {
	const n = 5
	base := generate(rand.New(rand.NewPCG(5, 5)), inputs, n, genOptions{labels: labelsMixed})
	type badCase struct {
		name  string
		edit  func(b *core.Batch)
		code  core.Code
		field string
		index int
	}
	var cases []badCase
	firstOfLayout := map[core.Layout]bool{}
	for _, name := range inputs {
		f, _ := core.LookupField(name)
		cases = append(cases, badCase{"missing/" + name, func(b *core.Batch) { setNil(b, name) },
			core.CodeMissingInput, name, -1})
		if firstOfLayout[f.Layout] {
			cases = append(cases, badCase{"length_mismatch/" + name, func(b *core.Batch) { truncate(b, name) },
				core.CodeLengthMismatch, name, -1})
		}
		firstOfLayout[f.Layout] = true
		switch f.Kind {
		case core.Float:
			for k, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				idx := (2 + k) % n
				cases = append(cases, badCase{fmt.Sprintf("non_finite/%s/%v", name, v),
					func(b *core.Batch) { (*b.Floats(name))[idx] = v }, core.CodeNonFinite, name, idx})
			}
		case core.TokenFloat:
			cases = append(cases, badCase{"non_finite/" + name, func(b *core.Batch) { (*b.Tokens(name))[2][0] = math.NaN() },
				core.CodeNonFinite, name, 2})
			cases = append(cases, badCase{"token_count/" + name, func(b *core.Batch) {
				(*b.Tokens(name))[1] = append((*b.Tokens(name))[1], -1)
			}, core.CodeLengthMismatch, name, 1})
		case core.Count:
			cases = append(cases, badCase{"negative/" + name, func(b *core.Batch) { (*b.Counts(name))[1] = -1 },
				core.CodeOutOfRange, name, 1})
			if slices.Contains(completionLengths, name) {
				cases = append(cases, badCase{"zero_length/" + name, func(b *core.Batch) { zeroLength(b, inputs, name, 3) },
					core.CodeOutOfRange, name, 3})
			}
		}
	}
	cases = append(cases, badCase{"empty", func(b *core.Batch) {
		for _, name := range inputs {
			truncateTo(b, name, 0)
		}
	}, core.CodeEmptyBatch, inputs[0], -1})

	for _, tc := range cases {
		b := base.Clone()
		tc.edit(b)
		r, err := c.computeErr(obj, b)
		var ie *core.InputError
		switch {
		case errors.Is(err, errTimeout), errors.Is(err, errStopped):
			s.fatalf("%s: %s", tc.name, c.stop)
			return
		case err == nil:
			s.errorf("%s: accepted (loss %v), want a %v diagnostic for %s", tc.name, lossOf(r), tc.code, where(tc.field, tc.index))
		case !errors.As(err, &ie):
			s.errorf("%s: want *core.InputError %v for %s, got %T: %v", tc.name, tc.code, where(tc.field, tc.index), err, err)
		case ie.Code != tc.code || ie.Field != tc.field || ie.Index != tc.index:
			s.errorf("%s: got %v for %s (%v), want %v for %s", tc.name, ie.Code, where(ie.Field, ie.Index), err, tc.code, where(tc.field, tc.index))
		}
	}

	// A zero count that is not a completion length (a prompt with no scored
	// tokens, with log-prob 0) is either accepted or refused as out of range.
	for _, name := range inputs {
		if f, _ := core.LookupField(name); f.Kind != core.Count || slices.Contains(completionLengths, name) {
			continue
		}
		b := base.Clone()
		zeroLength(b, inputs, name, 3)
		if name == core.ChosenPromptLengths && b.Has(core.PolicyChosenPromptLogps) {
			b.PolicyChosenPromptLogps[3] = 0
		}
		r, err := c.computeErr(obj, b)
		var ie *core.InputError
		switch {
		case errors.Is(err, errTimeout), errors.Is(err, errStopped):
			s.fatalf("zero_count/%s: %s", name, c.stop)
			return
		case err == nil:
			if err := core.CheckResult(b, inputs, r); err != nil {
				s.errorf("zero_count/%s: accepted with an invalid result: %v", name, err)
			}
		case !errors.As(err, &ie):
			s.errorf("zero_count/%s: want *core.InputError, got %T: %v", name, err, err)
		case ie.Code != core.CodeOutOfRange || ie.Field != name || ie.Index != 3:
			s.errorf("zero_count/%s: got %v for %s (%v), want accepted or %v for %s", name, ie.Code, where(ie.Field, ie.Index), err, core.CodeOutOfRange, where(name, 3))
		}
	}
	s.number("cases", float64(len(cases)))
}

func where(field string, index int) string {
	if index >= 0 {
		return fmt.Sprintf("%s[%d]", field, index)
	}
	return field
}

func lossOf(r *core.Result) float64 {
	if r == nil {
		return math.NaN()
	}
	return r.Loss
}

// measureLatency times Compute on seeded random batches of each size.
func (c *checker) measureLatency(s *state, obj core.Objective, inputs []string) {
	for _, n := range c.opts.LatencySizes {
		b := generate(rand.New(rand.NewPCG(uint64(n), 99)), inputs, n, genOptions{labels: labelsMixed})
		what := fmt.Sprintf("n=%d", n)
		for range 3 {
			if _, ok := c.compute(s, obj, what, b); !ok {
				return
			}
		}
		d := make([]float64, 0, c.opts.LatencyCalls)
		for range c.opts.LatencyCalls {
			start := time.Now()
			if _, ok := c.compute(s, obj, what, b); !ok {
				return
			}
			d = append(d, float64(time.Since(start).Nanoseconds())/1e6)
		}
		sort.Float64s(d)
		l := Latency{Examples: n, Calls: len(d), P50Ms: quantile(d, 0.5), P99Ms: quantile(d, 0.99)}
		c.rep.Latency = append(c.rep.Latency, l)
		s.number(fmt.Sprintf("p50_ms/%d", n), l.P50Ms)
		s.number(fmt.Sprintf("p99_ms/%d", n), l.P99Ms)
	}
}

// quantile returns the q-quantile of sorted xs by the nearest-rank method.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
