package data

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExtractPrompt(t *testing.T) {
	tests := []struct {
		name                     string
		chosen, rejected         string
		prompt, chosenR, rejectR string
	}{
		// The example of TRL's dataset-format documentation.
		{"space backs off", "The sky is blue.", "The sky is green.", "The sky is", " blue.", " green."},
		{"no space before difference", "ab1", "ab2", "ab", "1", "2"},
		{"differ at first", "x", "y", "", "x", "y"},
		// TRL would read chosen[-1] == " " here and cut one character off the
		// end; the back-off does not apply at index 0.
		{"differ at first, chosen ends in space", "a ", "b", "", "a ", "b"},
		// Prefix case: TRL's loop index stops at min length − 1.
		{"rejected is prefix", "abc", "ab", "a", "bc", "b"},
		{"chosen is prefix", "ab", "abc", "a", "b", "bc"},
		{"prefix ending in space, no back-off", "a b ", "a b c", "a b", " ", " c"},
		{"identical", "same", "same", "sam", "e", "e"},
		{"single equal chars", "a", "a", "", "a", "a"},
		// Multi-byte code points: "é" is 2 bytes, "€" 3; the split falls on
		// code point boundaries.
		{"multi-byte shared prefix", "café au lait", "café noir", "café", " au lait", " noir"},
		{"multi-byte differing code points", "x€", "x£", "x", "€", "£"},
		{"same first byte, different code point", "é", "è", "", "é", "è"},
		{"double space", "a  b", "a  c", "a ", " b", " c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, c, r := ExtractPrompt(tc.chosen, tc.rejected)
			assert.Equal(t, tc.prompt, p, "prompt")
			assert.Equal(t, tc.chosenR, c, "chosen")
			assert.Equal(t, tc.rejectR, r, "rejected")
			assert.Equal(t, tc.chosen, p+c)
			assert.Equal(t, tc.rejected, p+r)
		})
	}
}
