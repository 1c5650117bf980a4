package tokenizer

import (
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBytesEncode(t *testing.T) {
	tok := NewBytes()
	tests := []struct {
		name string
		in   string
		want []int
	}{
		{"empty", "", []int{}},
		{"ascii", "Hi!", []int{'H', 'i', '!'}},
		// "é" is U+00E9, UTF-8 C3 A9.
		{"two-byte rune", "é", []int{0xC3, 0xA9}},
		// Special names are ordinary text.
		{"special name is text", "<eos>", []int{'<', 'e', 'o', 's', '>'}},
		{"invalid utf-8 kept", "\xff", []int{0xFF}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tok.Encode(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, tok.Decode(got))
		})
	}
}

func TestBytesDecodeSpecials(t *testing.T) {
	tok := NewBytes()
	tests := []struct {
		name string
		ids  []int
		want string
	}{
		{"bos text eos", []int{257, 'a', 258}, "<bos>a<eos>"},
		{"pad", []int{256, 256}, "<pad><pad>"},
		{"out of range", []int{-1, 259, 'x'}, "\uFFFD\uFFFDx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tok.Decode(tc.ids))
		})
	}
	assert.Equal(t, 259, tok.Size())
	assert.Equal(t, []int{256, 257, 258}, []int{tok.PAD(), tok.BOS(), tok.EOS()})
}

func TestBytesNoEOS(t *testing.T) {
	tok := NewBytesNoEOS()
	assert.Equal(t, 258, tok.Size())
	assert.Equal(t, -1, tok.EOS())
	assert.Equal(t, []int{256, 257}, []int{tok.PAD(), tok.BOS()})
	assert.Equal(t, "bytes(258)", tok.Name())
	assert.Equal(t, "a<pad><bos>\uFFFD", tok.Decode([]int{'a', 256, 257, 258}), "258 is outside the vocabulary")
	assert.Equal(t, Spec{Kind: KindBytes, Specials: []Special{PAD, BOS}, Size: 258}, tok.Spec())
	assert.Equal(t, "a<eos>", NewBytes().Decode([]int{'a', 258}))
}

func TestSymbols(t *testing.T) {
	tests := []struct {
		name     string
		alphabet string
		specials []Special
		in       string
		want     []int
		wantErr  string
		size     int
		pad      int
		bos      int
		eos      int
	}{
		{name: "plain", alphabet: "abcd", in: "dcba", want: []int{3, 2, 1, 0}, size: 4, pad: -1, bos: -1, eos: -1},
		{name: "eos only", alphabet: "abcd", specials: []Special{EOS}, in: "ab", want: []int{0, 1}, size: 5, pad: -1, bos: -1, eos: 4},
		{name: "order given", alphabet: "xy", specials: []Special{EOS, PAD}, in: "", want: []int{}, size: 4, pad: 3, bos: -1, eos: 2},
		{name: "multi-byte symbols", alphabet: "αβγ", in: "γα", want: []int{2, 0}, size: 3, pad: -1, bos: -1, eos: -1},
		{name: "unknown symbol", alphabet: "abcd", in: "abxd", wantErr: `tokenizer: unknown symbol 'x' at position 2 (alphabet "abcd")`},
		{name: "unknown after multi-byte", alphabet: "αβ", in: "αβ!", wantErr: `tokenizer: unknown symbol '!' at position 2 (alphabet "αβ")`},
		{name: "invalid utf-8", alphabet: "ab", in: "a\xffb", wantErr: "tokenizer: invalid UTF-8 at position 1 (byte 1)"},
		{name: "U+FFFD not in alphabet", alphabet: "ab", in: "\uFFFD", wantErr: `tokenizer: unknown symbol '�' at position 0 (alphabet "ab")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := NewSymbols(tc.alphabet, tc.specials...)
			require.NoError(t, err)
			got, err := tok.Encode(tc.in)
			if tc.wantErr != "" {
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, tok.Decode(got))
			assert.Equal(t, tc.size, tok.Size())
			assert.Equal(t, []int{tc.pad, tc.bos, tc.eos}, []int{tok.PAD(), tok.BOS(), tok.EOS()})
		})
	}
}

func TestSymbolsDecode(t *testing.T) {
	tok, err := NewSymbols("ab", BOS, EOS)
	require.NoError(t, err)
	assert.Equal(t, "<bos>ab<eos>\uFFFD\uFFFD", tok.Decode([]int{2, 0, 1, 3, 4, -1}))
}

func TestNewSymbolsErrors(t *testing.T) {
	tests := []struct {
		name     string
		alphabet string
		specials []Special
		wantErr  string
	}{
		{"empty", "", nil, "tokenizer: empty symbol alphabet"},
		{"duplicate", "abca", nil, `tokenizer: symbol 'a' appears twice in alphabet "abca"`},
		{"invalid utf-8", "a\xff", nil, `tokenizer: symbol alphabet "a\xff" is not valid UTF-8`},
		{"unknown special", "ab", []Special{"<unk>"}, `tokenizer: unknown special token "<unk>" (known: [<pad> <bos> <eos>])`},
		{"repeated special", "ab", []Special{EOS, EOS}, `tokenizer: special token "<eos>" given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSymbols(tc.alphabet, tc.specials...)
			assert.EqualError(t, err, tc.wantErr)
		})
	}
}

func mustSymbols(t *testing.T, alphabet string, specials ...Special) *Symbols {
	t.Helper()
	s, err := NewSymbols(alphabet, specials...)
	require.NoError(t, err)
	return s
}

// TestSpecRoundTrip checks that Spec → JSON → Spec → FromSpec rebuilds a
// tokenizer that encodes and decodes like the original.
func TestSpecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		tok  Tokenizer
		text string
	}{
		{"bytes", NewBytes(), "The sky is blue. é"},
		{"bytes without eos", NewBytesNoEOS(), "The sky is blue. é"},
		{"symbols plain", mustSymbols(t, "abcd"), "abcdda"},
		{"symbols with specials", mustSymbols(t, "01", EOS, BOS), "0110"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.tok.Spec())
			require.NoError(t, err)
			var spec Spec
			require.NoError(t, json.Unmarshal(raw, &spec))
			assert.True(t, spec.Equal(tc.tok.Spec()), "spec after JSON: %+v", spec)
			back, err := FromSpec(spec)
			require.NoError(t, err)
			assert.True(t, back.Spec().Equal(tc.tok.Spec()))
			assert.Equal(t, tc.tok.Name(), back.Name())
			assert.Equal(t, tc.tok.Size(), back.Size())
			assert.Equal(t, []int{tc.tok.PAD(), tc.tok.BOS(), tc.tok.EOS()}, []int{back.PAD(), back.BOS(), back.EOS()})
			want, err := tc.tok.Encode(tc.text)
			require.NoError(t, err)
			got, err := back.Encode(tc.text)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			all := make([]int, tc.tok.Size())
			for i := range all {
				all[i] = i
			}
			assert.Equal(t, tc.tok.Decode(all), back.Decode(all))
		})
	}
}

func TestSpecJSON(t *testing.T) {
	raw, err := json.Marshal(NewBytes().Spec())
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"bytes","specials":["<pad>","<bos>","<eos>"],"size":259}`, string(raw))
	raw, err = json.Marshal(mustSymbols(t, "ab").Spec())
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"symbols","symbols":"ab","specials":[],"size":2}`, string(raw))
}

func TestFromSpecErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		wantErr string
	}{
		{"unknown kind", Spec{Kind: "bpe", Size: 3}, `tokenizer: unknown kind "bpe" (known: bytes, symbols)`},
		{"empty kind", Spec{}, `tokenizer: unknown kind "" (known: bytes, symbols)`},
		{"bytes wrong size", Spec{Kind: "bytes", Specials: []Special{PAD, BOS, EOS}, Size: 258},
			"tokenizer: spec says size 258 but a bytes tokenizer built from it has 259"},
		{"bytes other specials", Spec{Kind: "bytes", Specials: []Special{EOS}, Size: 257},
			`tokenizer: spec of kind "bytes" must have specials [<pad> <bos> <eos>] or [<pad> <bos>], got [<eos>]`},
		{"bytes with symbols", Spec{Kind: "bytes", Symbols: "ab", Specials: []Special{PAD, BOS, EOS}, Size: 259},
			`tokenizer: spec of kind "bytes" must not list symbols`},
		{"symbols wrong size", Spec{Kind: "symbols", Symbols: "abc", Specials: []Special{EOS}, Size: 3},
			"tokenizer: spec says size 3 but a symbols tokenizer built from it has 4"},
		{"symbols bad alphabet", Spec{Kind: "symbols", Symbols: "aa", Size: 2},
			`tokenizer: symbol 'a' appears twice in alphabet "aa"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromSpec(tc.spec)
			assert.EqualError(t, err, tc.wantErr)
		})
	}
}

func FuzzSymbolsEncode(f *testing.F) {
	f.Add("abcd", "dcba")
	f.Add("αβ", "αxβ")
	f.Add("ab", "a\xffb")
	f.Fuzz(func(t *testing.T, alphabet, s string) {
		tok, err := NewSymbols(alphabet, EOS)
		if err != nil {
			return
		}
		ids, err := tok.Encode(s)
		if err != nil {
			return
		}
		// Every accepted string is valid UTF-8 and round-trips.
		if !utf8.ValidString(s) {
			t.Fatalf("accepted invalid UTF-8 %q", s)
		}
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		for i, id := range ids {
			if id < 0 || id >= tok.Size()-1 {
				t.Fatalf("id %d at %d outside the symbol range of %s", id, i, tok.Name())
			}
		}
	})
}

func ExampleSymbols() {
	tok, _ := NewSymbols("abcd", EOS)
	ids, _ := tok.Encode("cab")
	fmt.Println(ids, tok.Decode(append(ids, tok.EOS())), tok.Size())
	_, err := tok.Encode("abz")
	fmt.Println(err)
	// Output:
	// [2 0 1] cab<eos> 5
	// tokenizer: unknown symbol 'z' at position 2 (alphabet "abcd")
}
