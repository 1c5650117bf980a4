package core

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies a problem reported by an objective. Codes travel on the
// wire, so error identity survives the process boundary; their numeric
// values are part of the protocol and never change.
type Code int32

// Problem codes. Values match the wire protocol's Code enum.
const (
	CodeUnspecified    Code = 0
	CodeInvalidParam   Code = 1  // a parameter is unknown, of the wrong type or out of bounds
	CodeMissingInput   Code = 2  // the batch lacks an input the objective reads
	CodeLengthMismatch Code = 3  // inputs of one layout differ in length
	CodeNonFinite      Code = 4  // a NaN or ±Inf where a finite number is required
	CodeOutOfRange     Code = 5  // a finite value outside the objective's domain
	CodeEmptyBatch     Code = 6  // no examples
	CodeUnknownInput   Code = 7  // an input name the receiver does not know
	CodeNotConfigured  Code = 8  // Compute before a successful Configure
	CodeInternal       Code = 9  // the objective failed (a bug, e.g. a recovered panic)
	CodeBadReply       Code = 10 // a result violates the contract (host-side check)
)

var codeNames = map[Code]string{
	CodeUnspecified:    "unspecified",
	CodeInvalidParam:   "invalid_param",
	CodeMissingInput:   "missing_input",
	CodeLengthMismatch: "length_mismatch",
	CodeNonFinite:      "non_finite",
	CodeOutOfRange:     "out_of_range",
	CodeEmptyBatch:     "empty_batch",
	CodeUnknownInput:   "unknown_input",
	CodeNotConfigured:  "not_configured",
	CodeInternal:       "internal",
	CodeBadReply:       "bad_reply",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", int32(c))
}

// ParamError reports a parameter the user must fix.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg)
}

// InputError reports a problem with one input of a batch, or with one element
// of it when Index ≥ 0.
type InputError struct {
	Code  Code
	Field string
	Index int // -1 when the problem is not with one element
	Value float64
	Msg   string
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.Field)
	if e.Index >= 0 {
		fmt.Fprintf(&b, "[%d]", e.Index)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Index >= 0 && (e.Code == CodeNonFinite || e.Code == CodeOutOfRange) {
		fmt.Fprintf(&b, " (got %v)", e.Value)
	}
	return b.String()
}

// Is matches another *InputError by code and field, so errors.Is works on
// errors that crossed the wire.
func (e *InputError) Is(target error) bool {
	t, ok := target.(*InputError)
	return ok && t.Code == e.Code && (t.Field == "" || t.Field == e.Field)
}

// ReplyError reports a result that violates the contract: a missing or
// mis-sized gradient, a non-finite loss, gradient or metric.
type ReplyError struct {
	Field string // "loss", "losses", "grads.<input>", "metrics.<name>"
	Index int    // -1 when not about one element
	Value float64
	Msg   string
}

func (e *ReplyError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("reply %s[%d]: %s (got %v)", e.Field, e.Index, e.Msg, e.Value)
	}
	return fmt.Sprintf("reply %s: %s", e.Field, e.Msg)
}

// InternalError reports a failure inside an objective that is not the
// caller's fault, such as a recovered panic.
type InternalError struct{ Msg string }

func (e *InternalError) Error() string { return "objective internal error: " + e.Msg }

// CodeOf returns the code describing err, CodeUnspecified if none applies.
func CodeOf(err error) Code {
	var ie *InputError
	var pe *ParamError
	var re *ReplyError
	var xe *InternalError
	switch {
	case errors.As(err, &ie):
		return ie.Code
	case errors.As(err, &pe):
		return CodeInvalidParam
	case errors.As(err, &re):
		return CodeBadReply
	case errors.As(err, &xe):
		return CodeInternal
	}
	return CodeUnspecified
}
