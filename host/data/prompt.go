package data

import "unicode/utf8"

// ExtractPrompt splits an implicit-prompt pair into the shared prompt and the
// two completions, following TRL's extract_prompt (trl/data_utils.py) on
// Unicode code points:
//
//  1. Find the first code point at which chosen and rejected differ, at
//     index i. If i > 0 and the code point before it is a space (U+0020),
//     step back one so the space starts the completions ("The sky is blue."
//     vs "The sky is green." gives prompt "The sky is" and completions
//     " blue.", " green.").
//  2. If the shorter string is a prefix of the longer (or they are equal),
//     the prompt is all of the shorter string but its last code point, as
//     TRL's loop leaves its index at the last position it compared; no space
//     back-off applies.
//
// The split is by characters, not words: "Two is four." and "Two is
// five." share the prompt "Two is f".
//
// Unlike TRL, a difference at the very first code point never backs off: TRL
// then reads chosen[-1], the last character, which is an indexing accident.
// Both strings must be non-empty; the completions returned are then
// non-empty too.
func ExtractPrompt(chosen, rejected string) (prompt, chosenRest, rejectedRest string) {
	i, prev := 0, 0 // byte offsets of the current and the previous code point
	for i < len(chosen) && i < len(rejected) {
		rc, n := utf8.DecodeRuneInString(chosen[i:])
		rr, m := utf8.DecodeRuneInString(rejected[i:])
		if rc != rr || n != m || chosen[i:i+n] != rejected[i:i+m] {
			if i > 0 && chosen[prev:i] == " " {
				i = prev
			}
			return chosen[:i], chosen[i:], rejected[i:]
		}
		prev = i
		i += n
	}
	return chosen[:prev], chosen[prev:], rejected[prev:]
}
