package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// ParamType is the type of an objective parameter.
type ParamType int

// Parameter types.
const (
	TypeFloat ParamType = iota + 1
	TypeInt
	TypeBool
	TypeString
	TypeFloatList  // []float64; Min, Max bound each element
	TypeIntList    // []int64; Min, Max bound each element
	TypeStringList // []string; Enum constrains each element
)

func (t ParamType) String() string {
	switch t {
	case TypeFloat:
		return "float"
	case TypeInt:
		return "int"
	case TypeBool:
		return "bool"
	case TypeString:
		return "string"
	case TypeFloatList:
		return "float list"
	case TypeIntList:
		return "int list"
	case TypeStringList:
		return "string list"
	}
	return fmt.Sprintf("ParamType(%d)", int(t))
}

// IsList reports whether t is a list type.
func (t ParamType) IsList() bool { return t >= TypeFloatList && t <= TypeStringList }

// Elem returns the element type of a list type, and t itself otherwise.
func (t ParamType) Elem() ParamType {
	switch t {
	case TypeFloatList:
		return TypeFloat
	case TypeIntList:
		return TypeInt
	case TypeStringList:
		return TypeString
	}
	return t
}

// ParamSpec describes one parameter of an objective.
type ParamSpec struct {
	Name string
	Type ParamType
	// Default is the value used when the user sets none: float64, int64,
	// bool, string, []float64, []int64 or []string according to Type. Nil
	// means the parameter is optional and absent unless set.
	Default any
	Doc     string
	// Min and Max bound a numeric parameter, or each element of a numeric
	// list, when non-nil; MinExclusive and MaxExclusive make the bound strict.
	Min, Max                   *float64
	MinExclusive, MaxExclusive bool
	// Enum lists the allowed values of a string parameter, or of each
	// element of a string list; empty means any.
	Enum []string
	// MinItems and MaxItems bound the number of elements of a list
	// parameter; MaxItems 0 means no upper bound.
	MinItems, MaxItems int
	// SameLengthAs names another list parameter whose length this list's
	// must equal whenever both have values (TRL's loss_weights and
	// loss_type, say).
	SameLengthAs string
}

// Bound returns a pointer to v, for ParamSpec.Min and Max.
func Bound(v float64) *float64 { return &v }

// Spec is what an objective publishes about itself.
type Spec struct {
	Name    string // registry name, lower case: "dpo"
	Version string // semantic version of the objective's math and params
	Doc     string // one paragraph: the formula and its references
	Params  []ParamSpec
}

// Param returns the spec of the named parameter.
func (s Spec) Param(name string) (ParamSpec, bool) {
	for _, p := range s.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamSpec{}, false
}

// ParamNames returns the parameter names, sorted.
func (s Spec) ParamNames() []string {
	names := make([]string, len(s.Params))
	for i, p := range s.Params {
		names[i] = p.Name
	}
	slices.Sort(names)
	return names
}

// Validate checks the spec itself: a name, unique parameter names, known
// types, defaults of the right type within their bounds.
func (s Spec) Validate() error {
	if s.Name == "" {
		return errors.New("spec: empty name")
	}
	seen := map[string]bool{}
	for _, p := range s.Params {
		if p.Name == "" {
			return fmt.Errorf("spec %s: parameter with empty name", s.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("spec %s: duplicate parameter %q", s.Name, p.Name)
		}
		seen[p.Name] = true
		if p.Type < TypeFloat || p.Type > TypeStringList {
			return fmt.Errorf("spec %s: parameter %q: unknown type %v", s.Name, p.Name, p.Type)
		}
		if !p.Type.IsList() && (p.MinItems != 0 || p.MaxItems != 0 || p.SameLengthAs != "") {
			return fmt.Errorf("spec %s: parameter %q: MinItems, MaxItems and SameLengthAs apply only to lists", s.Name, p.Name)
		}
		if p.MinItems < 0 || p.MaxItems < 0 || p.MaxItems != 0 && p.MaxItems < p.MinItems {
			return fmt.Errorf("spec %s: parameter %q: want 0 <= MinItems <= MaxItems (or MaxItems 0), got %d and %d",
				s.Name, p.Name, p.MinItems, p.MaxItems)
		}
		if p.SameLengthAs != "" {
			o, ok := s.Param(p.SameLengthAs)
			if !ok || !o.Type.IsList() || o.Name == p.Name {
				return fmt.Errorf("spec %s: parameter %q: SameLengthAs %q is not another list parameter", s.Name, p.Name, p.SameLengthAs)
			}
			if p.Default != nil && o.Default != nil && reflectLen(p.Default) != reflectLen(o.Default) {
				return fmt.Errorf("spec %s: parameter %q: default has %d elements but the default of %s has %d",
					s.Name, p.Name, reflectLen(p.Default), o.Name, reflectLen(o.Default))
			}
		}
		if p.Default != nil {
			if _, err := p.coerce(p.Default); err != nil {
				return fmt.Errorf("spec %s: default of %w", s.Name, err)
			}
		}
	}
	return nil
}

// coerce converts v to the parameter's Go type and checks bounds and enum.
func (p ParamSpec) coerce(v any) (any, error) {
	if p.Type.IsList() {
		return p.coerceList(v)
	}
	bad := func(format string, a ...any) error {
		return &ParamError{Param: p.Name, Msg: fmt.Sprintf(format, a...)}
	}
	switch p.Type {
	case TypeFloat:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		default:
			return nil, bad("must be a number, got %s", describe(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad("must be finite, got %v", f)
		}
		return f, p.checkBounds(f)
	case TypeInt:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case int:
			n = int64(x)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, bad("must be an integer, got %v", x)
			}
			n = int64(x)
		default:
			return nil, bad("must be an integer, got %s", describe(v))
		}
		return n, p.checkBounds(float64(n))
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, bad("must be true or false, got %s", describe(v))
		}
		return b, nil
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, bad("must be a string, got %s", describe(v))
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			return nil, bad("must be one of %s, got %q", strings.Join(p.Enum, ", "), s)
		}
		return s, nil
	}
	return nil, bad("has unknown type %v", p.Type)
}

// coerceList converts a list value ([]any as TOML and JSON decode arrays,
// or a typed slice) to []float64, []int64 or []string, checking its length
// and every element.
func (p ParamSpec) coerceList(v any) (any, error) {
	var elems []any
	switch x := v.(type) {
	case []any:
		elems = x
	case []float64:
		elems = toAny(x)
	case []float32:
		elems = toAny(x)
	case []int64:
		elems = toAny(x)
	case []int:
		elems = toAny(x)
	case []string:
		elems = toAny(x)
	case string, bool, float64, float32, int64, int:
		// A single value is a list of one, as TRL takes loss_type = "sigmoid"
		// for ["sigmoid"].
		elems = []any{x}
	default:
		return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("must be a list of %ss, got %s", p.Type.Elem(), describe(v))}
	}
	n := len(elems)
	if n < p.MinItems || p.MaxItems > 0 && n > p.MaxItems {
		want := fmt.Sprintf("at least %d", p.MinItems)
		if p.MaxItems > 0 {
			want = fmt.Sprintf("%d to %d", p.MinItems, p.MaxItems)
		}
		return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("must have %s elements, got %d", want, n)}
	}
	elem := p
	elem.Type = p.Type.Elem()
	floats, ints, strs := make([]float64, 0, n), make([]int64, 0, n), make([]string, 0, n)
	for i, e := range elems {
		c, err := elem.coerce(e)
		if err != nil {
			var pe *ParamError
			if errors.As(err, &pe) {
				return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("element %d %s", i, pe.Msg)}
			}
			return nil, err
		}
		switch c := c.(type) {
		case float64:
			floats = append(floats, c)
		case int64:
			ints = append(ints, c)
		case string:
			strs = append(strs, c)
		}
	}
	switch p.Type {
	case TypeFloatList:
		return floats, nil
	case TypeIntList:
		return ints, nil
	}
	return strs, nil
}

// reflectLen returns the length of a slice value, -1 for anything else.
func reflectLen(v any) int {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return -1
}

func toAny[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (p ParamSpec) checkBounds(f float64) error {
	if p.Min != nil && (f < *p.Min || p.MinExclusive && f == *p.Min) {
		op := ">="
		if p.MinExclusive {
			op = ">"
		}
		return &ParamError{Param: p.Name, Msg: fmt.Sprintf("must be %s %v, got %v", op, *p.Min, f)}
	}
	if p.Max != nil && (f > *p.Max || p.MaxExclusive && f == *p.Max) {
		op := "<="
		if p.MaxExclusive {
			op = "<"
		}
		return &ParamError{Param: p.Name, Msg: fmt.Sprintf("must be %s %v, got %v", op, *p.Max, f)}
	}
	return nil
}

// BoundsText renders the bounds of a numeric parameter, e.g. "(0, 0.5)" or
// "[0, inf)"; "" when unbounded.
func (p ParamSpec) BoundsText() string {
	if p.Min == nil && p.Max == nil {
		return ""
	}
	lo, hi := "(-inf", "inf)"
	if p.Min != nil {
		lo = fmt.Sprintf("[%v", *p.Min)
		if p.MinExclusive {
			lo = fmt.Sprintf("(%v", *p.Min)
		}
	}
	if p.Max != nil {
		hi = fmt.Sprintf("%v]", *p.Max)
		if p.MaxExclusive {
			hi = fmt.Sprintf("%v)", *p.Max)
		}
	}
	return lo + ", " + hi
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case bool:
		return fmt.Sprintf("bool %v", v)
	case float64, float32:
		return fmt.Sprintf("float %v", v)
	case int, int64:
		return fmt.Sprintf("integer %v", v)
	case nil:
		return "nothing"
	case []any, []float64, []float32, []int64, []int, []string:
		return fmt.Sprintf("list %v", v)
	}
	return fmt.Sprintf("%T", v)
}

// ParseParamJSON parses a parameter value written in JSON, as a command line
// may give it (--param 'loss_type=["sigmoid","sft"]'): a number, a string,
// a bool, or an array of numbers or strings. Integer literals become int64,
// other numbers float64, arrays []any; the result is what [Spec.Resolve]
// takes. Nested arrays, objects and null are errors.
func ParseParamJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("core: param value %q: invalid JSON: %w", s, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("core: param value %q: trailing data after the JSON value", s)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("core: param value %q: trailing data after the JSON value", s)
	}
	scalar := func(v any) (any, error) {
		switch x := v.(type) {
		case json.Number:
			if n, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
				return n, nil
			}
			f, err := x.Float64()
			if err != nil {
				return nil, fmt.Errorf("core: param value %q: number %s out of range", s, x)
			}
			return f, nil
		case string, bool:
			return x, nil
		case nil:
			return nil, fmt.Errorf("core: param value %q: null is not a value", s)
		case []any:
			return nil, fmt.Errorf("core: param value %q: want a number, string, bool or an array of them, got a nested array", s)
		}
		return nil, fmt.Errorf("core: param value %q: want a number, string, bool or an array of them, got an object", s)
	}
	if arr, ok := v.([]any); ok {
		out := make([]any, len(arr))
		for i, e := range arr {
			c, err := scalar(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return scalar(v)
}

// Params holds an objective's resolved parameters: user values, converted to
// their declared types, and defaults for the rest.
type Params struct {
	values map[string]any
	set    map[string]bool
}

// Resolve checks raw user values against the spec and fills defaults.
// Numbers may be given as any Go integer or float type; an integer-valued
// float is accepted for an int parameter. Every problem is reported, as
// *ParamError values joined with errors.Join, sorted by parameter name.
func (s Spec) Resolve(raw map[string]any) (Params, error) {
	p := Params{values: map[string]any{}, set: map[string]bool{}}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		ps, ok := s.Param(name)
		if !ok {
			known := strings.Join(s.ParamNames(), ", ")
			if known == "" {
				known = "none"
			}
			errs = append(errs, &ParamError{Param: name, Msg: fmt.Sprintf("unknown parameter of %s (known: %s)", s.Name, known)})
			continue
		}
		v, err := ps.coerce(raw[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.values[name], p.set[name] = v, true
	}
	for _, ps := range s.Params {
		if _, ok := p.values[ps.Name]; !ok && ps.Default != nil && !p.set[ps.Name] {
			v, err := ps.coerce(ps.Default)
			if err != nil {
				panic(fmt.Sprintf("core: spec %s has an invalid default: %v", s.Name, err))
			}
			p.values[ps.Name] = v
		}
	}
	for _, ps := range s.Params {
		if ps.SameLengthAs == "" || !p.Has(ps.Name) || !p.Has(ps.SameLengthAs) {
			continue
		}
		if n, m := listLen(p.values[ps.Name]), listLen(p.values[ps.SameLengthAs]); n != m {
			errs = append(errs, &ParamError{Param: ps.Name,
				Msg: fmt.Sprintf("must have as many elements as %s (%d), got %d", ps.SameLengthAs, m, n)})
		}
	}
	return p, errors.Join(errs...)
}

// IsSet reports whether the user set the named parameter.
func (p Params) IsSet(name string) bool { return p.set[name] }

// Has reports whether the named parameter has a value, set or default.
func (p Params) Has(name string) bool { _, ok := p.values[name]; return ok }

// Float returns a float parameter. It panics if the parameter has no float
// value: a programmer error, since Resolve guarantees the types.
func (p Params) Float(name string) float64 { return get[float64](p, name) }

// Int returns an int parameter; panics like Float.
func (p Params) Int(name string) int64 { return get[int64](p, name) }

// Bool returns a bool parameter; panics like Float.
func (p Params) Bool(name string) bool { return get[bool](p, name) }

// String returns a string parameter; panics like Float.
func (p Params) String(name string) string { return get[string](p, name) }

// FloatList returns a copy of a float list parameter; panics like Float.
func (p Params) FloatList(name string) []float64 { return slices.Clone(get[[]float64](p, name)) }

// IntList returns a copy of an int list parameter; panics like Float.
func (p Params) IntList(name string) []int64 { return slices.Clone(get[[]int64](p, name)) }

// StringList returns a copy of a string list parameter; panics like Float.
func (p Params) StringList(name string) []string { return slices.Clone(get[[]string](p, name)) }

// Values returns a copy of all values, set and default; lists are copied.
func (p Params) Values() map[string]any {
	m := make(map[string]any, len(p.values))
	for k, v := range p.values {
		m[k] = cloneValue(v)
	}
	return m
}

// SetValues returns a copy of the values the user set.
func (p Params) SetValues() map[string]any {
	m := map[string]any{}
	for k := range p.set {
		m[k] = cloneValue(p.values[k])
	}
	return m
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case []float64:
		return slices.Clone(x)
	case []int64:
		return slices.Clone(x)
	case []string:
		return slices.Clone(x)
	}
	return v
}

func listLen(v any) int {
	switch x := v.(type) {
	case []float64:
		return len(x)
	case []int64:
		return len(x)
	case []string:
		return len(x)
	}
	return -1
}

func get[T any](p Params, name string) T {
	v, ok := p.values[name].(T)
	if !ok {
		var zero T
		panic(fmt.Sprintf("core: parameter %q has no %T value (got %T)", name, zero, p.values[name]))
	}
	return v
}

// NewParams builds Params from values already resolved elsewhere (by a plugin
// process, say) and the names the user set. It copies its arguments.
func NewParams(values map[string]any, set []string) Params {
	p := Params{values: make(map[string]any, len(values)), set: map[string]bool{}}
	for k, v := range values {
		p.values[k] = cloneValue(v)
	}
	for _, name := range set {
		p.set[name] = true
	}
	return p
}
