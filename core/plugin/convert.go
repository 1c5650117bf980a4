package plugin

import (
	"errors"
	"fmt"

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
	}
	return nil, fmt.Errorf("unsupported parameter value of type %T", v)
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
			Enum: p.Enum,
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
		})
	}
	return out
}

// batchToPB encodes the named inputs of b.
func batchToPB(b *core.Batch, inputs []string) map[string]*pb.Array {
	out := make(map[string]*pb.Array, len(inputs))
	for _, name := range inputs {
		if !b.Has(name) {
			continue
		}
		if p := b.Floats(name); p != nil {
			out[name] = &pb.Array{Floats: *p}
		} else if p := b.Counts(name); p != nil {
			out[name] = &pb.Array{Ints: *p}
		} else if p := b.Bools(name); p != nil {
			out[name] = &pb.Array{Bools: *p}
		}
	}
	return out
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
		switch f.Kind {
		case core.Float:
			if len(a.GetInts())+len(a.GetBools()) > 0 {
				return nil, wrong("float")
			}
			*b.Floats(name) = nonNil(a.GetFloats())
		case core.Count:
			if len(a.GetFloats())+len(a.GetBools()) > 0 {
				return nil, wrong("count")
			}
			*b.Counts(name) = nonNil(a.GetInts())
		case core.Bool:
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
		Grads: make(map[string]*pb.Array, len(r.Grads))}
	for k, g := range r.Grads {
		out.Grads[k] = &pb.Array{Floats: g}
	}
	return out
}

func resultFromPB(r *pb.ComputeResponse) *core.Result {
	out := &core.Result{Loss: r.GetLoss(), Losses: r.GetLosses(), Metrics: r.GetMetrics(),
		Grads: make(map[string][]float64, len(r.GetGrads()))}
	if out.Metrics == nil {
		out.Metrics = map[string]float64{}
	}
	for k, g := range r.GetGrads() {
		out.Grads[k] = nonNil(g.GetFloats())
	}
	return out
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
