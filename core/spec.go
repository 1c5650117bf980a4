package core

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
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
	}
	return fmt.Sprintf("ParamType(%d)", int(t))
}

// ParamSpec describes one parameter of an objective.
type ParamSpec struct {
	Name string
	Type ParamType
	// Default is the value used when the user sets none: float64, int64,
	// bool or string according to Type. Nil means the parameter is optional
	// and absent unless set.
	Default any
	Doc     string
	// Min and Max bound a numeric parameter when non-nil; MinExclusive and
	// MaxExclusive make the bound strict.
	Min, Max                   *float64
	MinExclusive, MaxExclusive bool
	// Enum lists the allowed values of a string parameter; empty means any.
	Enum []string
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
		if p.Type < TypeFloat || p.Type > TypeString {
			return fmt.Errorf("spec %s: parameter %q: unknown type %v", s.Name, p.Name, p.Type)
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
	}
	return fmt.Sprintf("%T", v)
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

// Values returns a copy of all values, set and default.
func (p Params) Values() map[string]any { return maps.Clone(p.values) }

// SetValues returns a copy of the values the user set.
func (p Params) SetValues() map[string]any {
	m := map[string]any{}
	for k := range p.set {
		m[k] = p.values[k]
	}
	return m
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
	p := Params{values: maps.Clone(values), set: map[string]bool{}}
	if p.values == nil {
		p.values = map[string]any{}
	}
	for _, name := range set {
		p.set[name] = true
	}
	return p
}
