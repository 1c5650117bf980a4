package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Symbols tokenizes text over a fixed alphabet of single characters
// (Unicode code points): the i-th character of the alphabet has id i. The
// special tokens passed to [NewSymbols] follow, in the order given.
type Symbols struct {
	symbols  []rune
	ids      map[rune]int
	specials []Special
}

// NewSymbols returns a tokenizer over the characters of alphabet, with the
// given special tokens after them. It fails if alphabet is empty, not valid
// UTF-8 or repeats a character, or if a special is unknown or repeated.
func NewSymbols(alphabet string, specials ...Special) (*Symbols, error) {
	if alphabet == "" {
		return nil, fmt.Errorf("tokenizer: empty symbol alphabet")
	}
	if !utf8.ValidString(alphabet) {
		return nil, fmt.Errorf("tokenizer: symbol alphabet %q is not valid UTF-8", alphabet)
	}
	t := &Symbols{ids: map[rune]int{}}
	for _, r := range alphabet {
		if _, dup := t.ids[r]; dup {
			return nil, fmt.Errorf("tokenizer: symbol %q appears twice in alphabet %q", r, alphabet)
		}
		t.ids[r] = len(t.symbols)
		t.symbols = append(t.symbols, r)
	}
	for _, sp := range specials {
		if !slices.Contains(knownSpecials, sp) {
			return nil, fmt.Errorf("tokenizer: unknown special token %q (known: %v)", sp, knownSpecials)
		}
		if slices.Contains(t.specials, sp) {
			return nil, fmt.Errorf("tokenizer: special token %q given twice", sp)
		}
		t.specials = append(t.specials, sp)
	}
	return t, nil
}

// Encode returns the ids of the characters of s. A character outside the
// alphabet, or invalid UTF-8, is an error naming its position: the index of
// the character in s, counting from 0.
func (t *Symbols) Encode(s string) ([]int, error) {
	ids := make([]int, 0, len(s))
	pos := 0
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return nil, fmt.Errorf("tokenizer: invalid UTF-8 at position %d (byte %d)", pos, i)
			}
		}
		id, ok := t.ids[r]
		if !ok {
			return nil, fmt.Errorf("tokenizer: unknown symbol %q at position %d (alphabet %q)", r, pos, string(t.symbols))
		}
		ids = append(ids, id)
		pos++
	}
	return ids, nil
}

// Decode returns the symbols of ids; specials render as their names and ids
// outside [0, Size()) as U+FFFD.
func (t *Symbols) Decode(ids []int) string {
	var b strings.Builder
	n := len(t.symbols)
	for _, id := range ids {
		switch {
		case id >= 0 && id < n:
			b.WriteRune(t.symbols[id])
		case id >= n && id < n+len(t.specials):
			b.WriteString(string(t.specials[id-n]))
		default:
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// Size returns the number of symbols plus the number of specials.
func (t *Symbols) Size() int { return len(t.symbols) + len(t.specials) }

func (t *Symbols) special(sp Special) int {
	if i := specialIndex(t.specials, sp); i >= 0 {
		return len(t.symbols) + i
	}
	return -1
}

// PAD returns the id of PAD, or -1 if it was not asked for.
func (t *Symbols) PAD() int { return t.special(PAD) }

// BOS returns the id of BOS, or -1 if it was not asked for.
func (t *Symbols) BOS() int { return t.special(BOS) }

// EOS returns the id of EOS, or -1 if it was not asked for.
func (t *Symbols) EOS() int { return t.special(EOS) }

// Name returns e.g. `symbols("abcd"+<eos>)`.
func (t *Symbols) Name() string {
	var b strings.Builder
	fmt.Fprintf(&b, "symbols(%q", string(t.symbols))
	for _, sp := range t.specials {
		b.WriteString("+" + string(sp))
	}
	b.WriteString(")")
	return b.String()
}

// Spec returns the description FromSpec rebuilds t from.
func (t *Symbols) Spec() Spec {
	return Spec{Kind: KindSymbols, Symbols: string(t.symbols), Specials: append([]Special{}, t.specials...), Size: t.Size()}
}
