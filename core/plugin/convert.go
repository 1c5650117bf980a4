package plugin

import (
	"errors"
	"fmt"
	"slices"

	"github.com/prefopt/prefopt/core"
	pb "github.com/prefopt/prefopt/core/internal/objectivev1"
)

func valueToPB(v any) (*pb.Value, error) {
	switch x := v.(type) {
	case float64:
		return &pb.Value{Kind: &pb.Value_Float{Float: x}}, nil
	case float32:
		return &pb.Value{Kind: &pb.Value_Float{Float: float64(x)}}, nil
	case int64:
		return &pb.Value{Kind: &pb.Value_Int{Int: x}}, nil
	case int:
		return &pb.Value{Kind: &pb.Value_Int{Int: int64(x)}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_Bool{Bool: x}}, nil
	case string:
		return &pb.Value{Kind: &pb.Value_String_{String_: x}}, nil
	case []float64:
		return &pb.Value{Kind: &pb.Value_FloatList{FloatList: &pb.FloatList{Values: x}}}, nil
	case []int64:
		return &pb.Value{Kind: &pb.Value_IntList{IntList: &pb.IntList{Values: x}}}, nil
	case []string:
		return &pb.Value{Kind: &pb.Value_StringList{StringList: &pb.StringList{Values: x}}}, nil
	case []any:
		return anyListToPB(x)
	}
	return nil, fmt.Errorf("unsupported parameter value of type %T", v)
}

// anyListToPB encodes a list of user values (as TOML or JSON decode an
// array) as the list kind of its first element; the receiver's spec checks
// the element types. Integers in a list with floats become floats.
func anyListToPB(xs []any) (*pb.Value, error) {
	var fs []float64
	var is []int64
	var ss []string
	hasFloat := false
	for i, x := range xs {
		switch e := x.(type) {
		case float64:
			hasFloat = true
			fs = append(fs, e)
		case float32:
			hasFloat = true
			fs = append(fs, float64(e))
		case int64:
			is = append(is, e)
			fs = append(fs, float64(e))
		case int:
			is = append(is, int64(e))
			fs = append(fs, float64(e))
		case string:
			ss = append(ss, e)
		default:
			return nil, fmt.Errorf("list element %d: unsupported value of type %T", i, x)
		}
	}
	switch {
	case len(ss) > 0 && len(ss) != len(xs):
		return nil, fmt.Errorf("list mixes strings and numbers")
	case len(ss) > 0:
		return valueToPB(ss)
	case hasFloat:
		return valueToPB(nonNil(fs))
	}
	return valueToPB(nonNil(is))
}

// valueFromPB returns nil for an empty Value.
func valueFromPB(v *pb.Value) any {
	switch k := v.GetKind().(type) {
	case *pb.Value_Float:
		return k.Float
	case *pb.Value_Int:
		return k.Int
	case *pb.Value_Bool:
		return k.Bool
	case *pb.Value_String_:
		return k.String_
	case *pb.Value_FloatList:
		return nonNil(k.FloatList.GetValues())
	case *pb.Value_IntList:
		return nonNil(k.IntList.GetValues())
	case *pb.Value_StringList:
		return nonNil(k.StringList.GetValues())
	}
	return nil
}

func valuesToPB(m map[string]any) (map[string]*pb.Value, error) {
	out := make(map[string]*pb.Value, len(m))
	for k, v := range m {
		pv, err := valueToPB(v)
		if err != nil {
			return nil, &core.ParamError{Param: k, Msg: err.Error()}
		}
		out[k] = pv
	}
	return out, nil
}

func valuesFromPB(m map[string]*pb.Value) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = valueFromPB(v)
	}
	return out
}

func specToPB(s core.Spec) *pb.Spec {
	out := &pb.Spec{Name: s.Name, Version: s.Version, Doc: s.Doc}
	for _, p := range s.Params {
		ps := &pb.ParamSpec{
			Name: p.Name, Type: pb.ParamType(p.Type), Doc: p.Doc,
			Min: p.Min, Max: p.Max, MinExclusive: p.MinExclusive, MaxExclusive: p.MaxExclusive,
			Enum: p.Enum, MinItems: int64(p.MinItems), MaxItems: int64(p.MaxItems), SameLengthAs: p.SameLengthAs,
		}
		if p.Default != nil {
			// Spec.Validate guarantees a supported default type.
			ps.Default, _ = valueToPB(p.Default)
		}
		out.Params = append(out.Params, ps)
	}
	return out
}

func specFromPB(s *pb.Spec) core.Spec {
	out := core.Spec{Name: s.GetName(), Version: s.GetVersion(), Doc: s.GetDoc()}
	for _, p := range s.GetParams() {
		out.Params = append(out.Params, core.ParamSpec{
			Name: p.GetName(), Type: core.ParamType(p.GetType()), Default: valueFromPB(p.GetDefault()),
			Doc: p.GetDoc(), Min: p.Min, Max: p.Max,
			MinExclusive: p.GetMinExclusive(), MaxExclusive: p.GetMaxExclusive(), Enum: p.GetEnum(),
			MinItems: int(p.GetMinItems()), MaxItems: int(p.GetMaxItems()), SameLengthAs: p.GetSameLengthAs(),
		})
	}
	return out
}

// batchToPB encodes the named inputs of b; per-token inputs become ragged
// arrays (see the Array message).
func batchToPB(b *core.Batch, inputs []string) map[string]*pb.Array {
	out := make(map[string]*pb.Array, len(inputs))
	for _, name := range inputs {
		if !b.Has(name) {
			continue
		}
		if p := b.Floats(name); p != nil {
			out[name] = &pb.Array{Floats: *p}
		} else if p := b.Tokens(name); p != nil {
			out[name] = raggedToPB(*p)
		} else if p := b.Counts(name); p != nil {
			out[name] = &pb.Array{Ints: *p}
		} else if p := b.Bools(name); p != nil {
			out[name] = &pb.Array{Bools: *p}
		}
	}
	return out
}

// raggedToPB packs rows end to end, with their lengths.
func raggedToPB(rows [][]float64) *pb.Array {
	total := 0
	for _, r := range rows {
		total += len(r)
	}
	a := &pb.Array{Floats: make([]float64, 0, total), RowLengths: make([]int64, len(rows))}
	for i, r := range rows {
		a.Floats = append(a.Floats, r...)
		a.RowLengths[i] = int64(len(r))
	}
	return a
}

// raggedFromPB splits a packed ragged array into rows that share its
// memory. It fails if the row lengths are negative or do not add up to the
// number of values.
func raggedFromPB(a *pb.Array) ([][]float64, error) {
	flat, lens := a.GetFloats(), a.GetRowLengths()
	rows := make([][]float64, len(lens))
	off := int64(0)
	for i, n := range lens {
		if n < 0 || n > int64(len(flat))-off {
			return nil, fmt.Errorf("row %d of length %d overruns the %d packed values", i, n, len(flat))
		}
		rows[i] = nonNil(flat[off : off+n : off+n])
		off += n
	}
	if off != int64(len(flat)) {
		return nil, fmt.Errorf("row lengths add up to %d but %d values are packed", off, len(flat))
	}
	return rows, nil
}

// batchFromPB decodes inputs; names this version does not know are ignored,
// so newer hosts can send inputs older objectives never read.
func batchFromPB(in map[string]*pb.Array) (*core.Batch, error) {
	b := &core.Batch{}
	for name, a := range in {
		f, ok := core.LookupField(name)
		if !ok {
			continue
		}
		wrong := func(want string) error {
			return &core.InputError{Code: core.CodeOutOfRange, Field: name, Index: -1,
				Msg: fmt.Sprintf("is a %s input but the array holds another element type", want)}
		}
		if f.Kind != core.TokenFloat && len(a.GetRowLengths()) > 0 {
			return nil, &core.InputError{Code: core.CodeLengthMismatch, Field: name, Index: -1,
				Msg: "is one value per example but the array has row lengths"}
		}
		switch {
		case f.Column:
			if len(a.GetInts())+len(a.GetBools()) > 0 {
				return nil, wrong("float")
			}
			b.SetColumn(name, nonNil(a.GetFloats()))
		case f.Kind == core.Float:
			if len(a.GetInts())+len(a.GetBools()) > 0 {
				return nil, wrong("float")
			}
			*b.Floats(name) = nonNil(a.GetFloats())
		case f.Kind == core.TokenFloat:
			if len(a.GetInts())+len(a.GetBools()) > 0 {
				return nil, wrong("per-token float")
			}
			rows, err := raggedFromPB(a)
			if err != nil {
				return nil, &core.InputError{Code: core.CodeLengthMismatch, Field: name, Index: -1, Msg: err.Error()}
			}
			*b.Tokens(name) = rows
		case f.Kind == core.Count:
			if len(a.GetFloats())+len(a.GetBools()) > 0 {
				return nil, wrong("count")
			}
			*b.Counts(name) = nonNil(a.GetInts())
		case f.Kind == core.Bool:
			if len(a.GetFloats())+len(a.GetInts()) > 0 {
				return nil, wrong("bool")
			}
			*b.Bools(name) = nonNil(a.GetBools())
		}
	}
	return b, nil
}

// nonNil keeps "present but empty" distinct from "absent".
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func resultToPB(r *core.Result) *pb.ComputeResponse {
	out := &pb.ComputeResponse{Loss: r.Loss, Losses: r.Losses, Metrics: r.Metrics,
		Grads: make(map[string]*pb.Array, len(r.Grads)+len(r.TokenGrads))}
	for k, g := range r.Grads {
		out.Grads[k] = &pb.Array{Floats: g}
	}
	for k, g := range r.TokenGrads {
		out.Grads[k] = raggedToPB(g)
	}
	return out
}

// resultFromPB decodes a reply. Gradients with row lengths go to
// TokenGrads. Row lengths that do not match the packed values still yield
// rows (the last takes any surplus, short rows stay short), so that
// core.CheckResult reports the mismatch against the batch's shape.
func resultFromPB(r *pb.ComputeResponse) *core.Result {
	out := &core.Result{Loss: r.GetLoss(), Losses: r.GetLosses(), Metrics: r.GetMetrics(),
		Grads: make(map[string][]float64, len(r.GetGrads()))}
	if out.Metrics == nil {
		out.Metrics = map[string]float64{}
	}
	for k, g := range r.GetGrads() {
		if len(g.GetRowLengths()) == 0 {
			out.Grads[k] = nonNil(g.GetFloats())
			continue
		}
		if out.TokenGrads == nil {
			out.TokenGrads = map[string][][]float64{}
		}
		rows, err := raggedFromPB(g)
		if err != nil {
			rows = splitLenient(g.GetFloats(), g.GetRowLengths())
		}
		out.TokenGrads[k] = rows
	}
	return out
}

// splitLenient cuts flat by lens as far as it reaches; the last row takes
// any values left over.
func splitLenient(flat []float64, lens []int64) [][]float64 {
	rows := make([][]float64, len(lens))
	off := 0
	for i, n := range lens {
		end := min(off+max(int(n), 0), len(flat))
		if i == len(lens)-1 {
			end = len(flat)
		}
		rows[i] = slices.Clone(flat[off:end])
		off = end
	}
	return rows
}

// diagnostics converts an error (possibly joined) into wire diagnostics.
func diagnostics(err error) []*pb.Diagnostic {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*pb.Diagnostic, 0, len(errs))
	for _, e := range errs {
		d := &pb.Diagnostic{Code: pb.Code(core.CodeOf(e)), Message: e.Error(), Index: -1}
		var ie *core.InputError
		var pe *core.ParamError
		var xe *core.InternalError
		switch {
		case errors.As(e, &ie):
			d.Field, d.Index, d.Value, d.Message = ie.Field, int64(ie.Index), ie.Value, ie.Msg
		case errors.As(e, &pe):
			d.Field, d.Message = pe.Param, pe.Msg
		case errors.As(e, &xe):
			d.Message = xe.Msg
		}
		if d.Code == pb.Code_CODE_UNSPECIFIED {
			d.Code = pb.Code_CODE_INTERNAL
		}
		out = append(out, d)
	}
	return out
}

// errorFromDiagnostics rebuilds typed errors from wire diagnostics; nil if
// there are none.
func errorFromDiagnostics(ds []*pb.Diagnostic) error {
	errs := make([]error, 0, len(ds))
	for _, d := range ds {
		code := core.Code(d.GetCode())
		switch code {
		case core.CodeInvalidParam:
			errs = append(errs, &core.ParamError{Param: d.GetField(), Msg: d.GetMessage()})
		case core.CodeNotConfigured:
			errs = append(errs, fmt.Errorf("%w: %s", core.ErrNotConfigured, d.GetMessage()))
		case core.CodeInternal, core.CodeUnspecified:
			errs = append(errs, &core.InternalError{Msg: d.GetMessage()})
		case core.CodeBadReply:
			errs = append(errs, &core.ReplyError{Field: d.GetField(), Index: int(d.GetIndex()), Value: d.GetValue(), Msg: d.GetMessage()})
		default:
			errs = append(errs, &core.InputError{Code: code, Field: d.GetField(), Index: int(d.GetIndex()),
				Value: d.GetValue(), Msg: d.GetMessage()})
		}
	}
	return errors.Join(errs...)
}
