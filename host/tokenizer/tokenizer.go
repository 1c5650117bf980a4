// Package tokenizer maps text to token ids and back for the prefopt host.
//
// Two tokenizers exist. [Bytes] is byte-level: ids 0..255 are the bytes of
// the UTF-8 text, followed by three special tokens PAD=256, BOS=257, EOS=258,
// so its vocabulary has 259 entries (258 without EOS, [NewBytesNoEOS]). [Symbols] serves synthetic tasks: a fixed
// list of single-character symbols whose ids are their positions, followed by
// only the special tokens asked for.
//
// Special tokens are never produced by Encode: the text "<eos>" encodes to
// its five bytes. A tokenizer is described by a JSON-able [Spec] that
// checkpoints record and [FromSpec] turns back into the same tokenizer.
package tokenizer

import (
	"fmt"
	"slices"
	"strings"
)

// Special names a special token. The names are how specials appear in a
// [Spec] and in the output of Decode.
type Special string

// Special tokens.
const (
	PAD Special = "<pad>" // padding; never scored
	BOS Special = "<bos>" // begins every prompt when the tokenizer has one
	EOS Special = "<eos>" // ends every completion when the tokenizer has one
)

var knownSpecials = []Special{PAD, BOS, EOS}

// Tokenizer converts between text and token ids in [0, Size()).
type Tokenizer interface {
	// Encode returns the ids of s. It never returns special tokens.
	Encode(s string) ([]int, error)
	// Decode returns the text of ids. Special tokens render as their names
	// ("<eos>"); an id outside [0, Size()) renders as U+FFFD.
	Decode(ids []int) string
	// Size is the vocabulary size: every id is in [0, Size()).
	Size() int
	// PAD, BOS and EOS return the id of that special token, or -1 if the
	// tokenizer has none.
	PAD() int
	BOS() int
	EOS() int
	// Name is a short human-readable description, e.g. "bytes(259)".
	Name() string
	// Spec describes the tokenizer so that FromSpec can rebuild it.
	Spec() Spec
}

// Kinds of tokenizer, the values of Spec.Kind.
const (
	KindBytes   = "bytes"
	KindSymbols = "symbols"
)

var kinds = []string{KindBytes, KindSymbols}

// Spec is the serialisable description of a tokenizer. Specials lists the
// special tokens in id order; their ids follow the base vocabulary (256 bytes,
// or one id per symbol). Size is recorded so a loader can verify it.
type Spec struct {
	Kind     string    `json:"kind"`
	Symbols  string    `json:"symbols,omitempty"`
	Specials []Special `json:"specials"`
	Size     int       `json:"size"`
}

// FromSpec builds the tokenizer s describes. It fails on an unknown kind, on
// a spec that the kind cannot produce (bytes with other specials than PAD,
// BOS and optionally EOS, in that order), and on a Size that differs from the rebuilt one.
func FromSpec(s Spec) (Tokenizer, error) {
	var t Tokenizer
	switch s.Kind {
	case KindBytes:
		if s.Symbols != "" {
			return nil, fmt.Errorf("tokenizer: spec of kind %q must not list symbols", s.Kind)
		}
		switch {
		case slices.Equal(s.Specials, knownSpecials):
			t = NewBytes()
		case slices.Equal(s.Specials, knownSpecials[:2]):
			t = NewBytesNoEOS()
		default:
			return nil, fmt.Errorf("tokenizer: spec of kind %q must have specials %v or %v, got %v", s.Kind, knownSpecials, knownSpecials[:2], s.Specials)
		}
	case KindSymbols:
		sym, err := NewSymbols(s.Symbols, s.Specials...)
		if err != nil {
			return nil, err
		}
		t = sym
	default:
		return nil, fmt.Errorf("tokenizer: unknown kind %q (known: %s)", s.Kind, strings.Join(kinds, ", "))
	}
	if t.Size() != s.Size {
		return nil, fmt.Errorf("tokenizer: spec says size %d but a %s tokenizer built from it has %d", s.Size, s.Kind, t.Size())
	}
	return t, nil
}

// Equal reports whether two specs describe the same tokenizer.
func (s Spec) Equal(o Spec) bool {
	return s.Kind == o.Kind && s.Symbols == o.Symbols && slices.Equal(s.Specials, o.Specials) && s.Size == o.Size
}

// specialIndex returns the position of sp in specials, or -1.
func specialIndex(specials []Special, sp Special) int {
	return slices.Index(specials, sp)
}
