package data

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/tokenizer"
)

func seq(lo, hi int) []int {
	s := []int{}
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// TestTruncate checks the truncation rule on cases computed by hand from the
// rule in TRL's DPOTrainer.tokenize_row.
func TestTruncate(t *testing.T) {
	tests := []struct {
		name        string
		tr          Truncation
		prompt      []int
		completions [][]int
		wantPrompt  []int
		wantCompl   [][]int
	}{
		{"fits", Truncation{10, 4, KeepEnd}, seq(1, 3), [][]int{seq(7, 9)}, seq(1, 3), [][]int{seq(7, 9)}},
		// 6 + 2 = 8 = max_length: not over.
		{"exactly max_length", Truncation{8, 3, KeepEnd}, seq(1, 6), [][]int{{7, 8}}, seq(1, 6), [][]int{{7, 8}}},
		// 6 + 3 = 9 > 8: prompt keeps its last 3; 3 + 3 = 6 fits.
		{"prompt keep_end", Truncation{8, 3, KeepEnd}, seq(1, 6), [][]int{seq(7, 9)}, seq(4, 6), [][]int{seq(7, 9)}},
		{"prompt keep_start", Truncation{8, 3, KeepStart}, seq(1, 6), [][]int{seq(7, 9)}, seq(1, 3), [][]int{seq(7, 9)}},
		{"empty mode is keep_end", Truncation{8, 3, ""}, seq(1, 6), [][]int{seq(7, 9)}, seq(4, 6), [][]int{seq(7, 9)}},
		// 4 + 6 > 6: prompt → [3 4]; 2 + 6 > 6: completion keeps 6 − 2 = 4.
		{"completion cut", Truncation{6, 2, KeepEnd}, seq(1, 4), [][]int{seq(11, 16)}, seq(3, 4), [][]int{seq(11, 14)}},
		// 2 + 7 > 6: prompt (2 ≤ 4) unchanged; still > 6: completion keeps
		// 6 − 4 = 2 although 4 would fit (TRL's budget).
		{"short prompt budget", Truncation{6, 4, KeepEnd}, seq(1, 2), [][]int{seq(11, 17)}, seq(1, 2), [][]int{seq(11, 12)}},
		// Longest completion is 5: 3 + 5 > 6 → prompt [2 3]; 2 + 5 > 6 →
		// both keep their first 4.
		{"pair uses longest", Truncation{6, 2, KeepEnd}, seq(1, 3), [][]int{{11}, seq(21, 25)}, seq(2, 3), [][]int{{11}, seq(21, 24)}},
		// 3 + 4 > 6 → prompt [2 3]; 2 + 4 = 6 fits: the short chosen loses
		// prompt tokens it alone would have kept.
		{"shared prompt decision", Truncation{6, 2, KeepEnd}, seq(1, 3), [][]int{{11, 12}, seq(21, 24)}, seq(2, 3), [][]int{{11, 12}, seq(21, 24)}},
		// max_prompt_length = max_length: nothing left for the completion.
		{"no completion budget", Truncation{4, 4, KeepEnd}, seq(1, 5), [][]int{{11}}, seq(2, 5), [][]int{{}}},
		{"off", Truncation{}, seq(1, 50), [][]int{seq(1, 90)}, seq(1, 50), [][]int{seq(1, 90)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, cs := tc.tr.Truncate(tc.prompt, tc.completions...)
			assert.Equal(t, tc.wantPrompt, p)
			assert.Equal(t, tc.wantCompl, cs)
		})
	}
}

// TestTruncateBounds checks on random lengths that a truncated row never
// exceeds max_length, keeps a contiguous end (keep_end) or start (keep_start)
// of the prompt and a start of each completion, and is unchanged when it fits.
func TestTruncateBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ml := 1 + rng.IntN(20)
		tr := Truncation{MaxLength: ml, MaxPromptLength: 1 + rng.IntN(ml), Mode: []TruncationMode{KeepEnd, KeepStart}[rng.IntN(2)]}
		prompt := seq(1, rng.IntN(25))
		c1, c2 := seq(100, 99+rng.IntN(25)), seq(200, 199+rng.IntN(25))
		p, cs := tr.Truncate(prompt, c1, c2)
		longest := max(len(cs[0]), len(cs[1]))
		require.LessOrEqual(t, len(p)+longest, ml, "%+v prompt %d completions %d %d", tr, len(prompt), len(c1), len(c2))
		if len(prompt)+max(len(c1), len(c2)) <= ml {
			require.Equal(t, prompt, p)
			require.Equal(t, [][]int{c1, c2}, cs)
		}
		if tr.Mode == KeepEnd {
			require.Equal(t, prompt[len(prompt)-len(p):], p)
		} else {
			require.Equal(t, prompt[:len(p)], p)
		}
		require.Equal(t, c1[:len(cs[0])], cs[0])
		require.Equal(t, c2[:len(cs[1])], cs[1])
	}
}

func TestTruncationValidate(t *testing.T) {
	tests := []struct {
		name    string
		tr      Truncation
		wantErr string
	}{
		{"default", DefaultTruncation(), ""},
		{"off", Truncation{}, ""},
		{"equal lengths", Truncation{8, 8, KeepStart}, ""},
		{"negative max_length", Truncation{-1, 0, ""}, "data: max_length must be >= 0, got -1"},
		{"prompt limit without max_length", Truncation{0, 5, ""}, "data: max_prompt_length 5 needs max_length > 0"},
		{"zero prompt limit", Truncation{8, 0, ""}, "data: max_prompt_length must be >= 1, got 0"},
		{"prompt limit too big", Truncation{8, 9, ""}, "data: max_prompt_length must be <= max_length 8, got 9"},
		{"bad mode", Truncation{8, 4, "keep_middle"}, `data: truncation mode must be keep_end or keep_start, got "keep_middle"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tr.Validate()
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.wantErr)
			assert.Panics(t, func() { tc.tr.Truncate([]int{1}, []int{2}) })
		})
	}
}

func src(line int) Source { return Source{File: "x.jsonl", Line: line} }

// byteIDs spells ids of the byte tokenizer: text bytes, then BOS/EOS.
func byteIDs(parts ...any) []int {
	var ids []int
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			for i := 0; i < len(v); i++ {
				ids = append(ids, int(v[i]))
			}
		case int:
			ids = append(ids, v)
		}
	}
	return ids
}

const (
	bos = tokenizer.ByteBOS
	eos = tokenizer.ByteEOS
)

func TestNewPairedSet(t *testing.T) {
	// prompt "abcdef" → BOS a b c d e f (7); chosen "xy" → x y EOS (3);
	// rejected "z" → z EOS (2).
	pair := Pair{Prompt: "abcdef", Chosen: "xy", Rejected: "z", Source: src(3)}
	tests := []struct {
		name         string
		tr           Truncation
		chosen, rej  Row
		wantErr      string
		wantLineFrom int
	}{
		{name: "no truncation", tr: Truncation{},
			chosen: Row{byteIDs(bos, "abcdefxy", eos), 7}, rej: Row{byteIDs(bos, "abcdefz", eos), 7}},
		// 7 + 3 > 8 → prompt keeps last 4 (BOS dropped, as in TRL); 4 + 3 fits.
		{name: "keep_end drops BOS", tr: Truncation{8, 4, KeepEnd},
			chosen: Row{byteIDs("cdefxy", eos), 4}, rej: Row{byteIDs("cdefz", eos), 4}},
		{name: "keep_start keeps BOS", tr: Truncation{8, 4, KeepStart},
			chosen: Row{byteIDs(bos, "abcxy", eos), 4}, rej: Row{byteIDs(bos, "abcz", eos), 4}},
		// 7 + 3 > 5 → prompt "def"; 3 + 3 > 5 → completions keep 2: the
		// chosen EOS is cut, the rejected keeps its EOS.
		{name: "EOS cut", tr: Truncation{5, 3, KeepEnd},
			chosen: Row{byteIDs("defxy"), 3}, rej: Row{byteIDs("defz", eos), 3}},
		{name: "empty completion", tr: Truncation{4, 4, KeepEnd},
			wantErr: "x.jsonl:3: chosen has no tokens left after truncation (max_length 4, max_prompt_length 4)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewPairedSet([]Pair{pair}, tokenizer.NewBytes(), tc.tr)
			if tc.wantErr != "" {
				assert.EqualError(t, err, tc.wantErr)
				var le *LineError
				assert.True(t, errors.As(err, &le))
				return
			}
			require.NoError(t, err)
			require.Equal(t, 1, s.Len())
			assert.Equal(t, tc.chosen, s.Chosen[0])
			assert.Equal(t, tc.rej, s.Rejected[0])
			assert.Equal(t, src(3), s.Source[0])
			assert.Equal(t, s.Chosen[0].Tokens[:s.Chosen[0].PromptLen], s.Rejected[0].Tokens[:s.Rejected[0].PromptLen])
		})
	}
}

func TestSetErrors(t *testing.T) {
	ab, err := tokenizer.NewSymbols("ab ")
	require.NoError(t, err)
	tests := []struct {
		name    string
		build   func() error
		wantErr string
	}{
		{"paired unknown symbol", func() error {
			_, err := NewPairedSet([]Pair{{"a", "b", "a", nil, src(1)}, {"a", "b", "z", nil, src(2)}}, ab, Truncation{})
			return err
		}, `x.jsonl:2: rejected: tokenizer: unknown symbol 'z' at position 0 (alphabet "ab ")`},
		{"paired prompt unknown symbol", func() error {
			_, err := NewPairedSet([]Pair{{"a?", "b", "a", nil, src(4)}}, ab, Truncation{})
			return err
		}, `x.jsonl:4: prompt: tokenizer: unknown symbol '?' at position 1 (alphabet "ab ")`},
		{"unpaired unknown symbol", func() error {
			_, err := NewUnpairedSet([]Labeled{{"a", "b!", true, nil, src(5)}}, ab, Truncation{})
			return err
		}, `x.jsonl:5: completion: tokenizer: unknown symbol '!' at position 1 (alphabet "ab ")`},
		{"sft unknown symbol", func() error {
			_, err := NewSFTSet([]Sample{{"", "abc", src(6)}}, ab, 0)
			return err
		}, `x.jsonl:6: completion: tokenizer: unknown symbol 'c' at position 2 (alphabet "ab ")`},
		{"paired bad truncation", func() error {
			_, err := NewPairedSet([]Pair{{"a", "b", "a", nil, src(1)}}, ab, Truncation{MaxLength: -3})
			return err
		}, "data: max_length must be >= 0, got -3"},
		{"no pairs", func() error { _, err := NewPairedSet(nil, ab, Truncation{}); return err }, "data: no pairs"},
		{"no examples", func() error { _, err := NewUnpairedSet(nil, ab, Truncation{}); return err }, "data: no examples"},
		{"no samples", func() error { _, err := NewSFTSet(nil, ab, 0); return err }, "data: no samples"},
		{"sft negative length", func() error { _, err := NewSFTSet([]Sample{{"", "a", src(1)}}, ab, -1); return err },
			"data: max_length must be >= 0, got -1"},
		{"unpaired empty after truncation", func() error {
			_, err := NewUnpairedSet([]Labeled{{"aaaa", "b", true, nil, src(9)}}, tokenizer.NewBytes(), Truncation{3, 3, KeepStart})
			return err
		}, "x.jsonl:9: completion has no tokens left after truncation (max_length 3, max_prompt_length 3)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.EqualError(t, tc.build(), tc.wantErr)
		})
	}
}

func TestPairedSetWithoutSpecials(t *testing.T) {
	tok, err := tokenizer.NewSymbols("abcd")
	require.NoError(t, err)
	s, err := NewPairedSet([]Pair{{"", "ab", "cd", nil, src(1)}, {"dd", "a", "b", nil, src(2)}}, tok, Truncation{})
	require.NoError(t, err)
	// No BOS: an empty prompt gives PromptLen 0; no EOS is appended.
	assert.Equal(t, []Row{{[]int{0, 1}, 0}, {[]int{3, 3, 0}, 2}}, s.Chosen)
	assert.Equal(t, []Row{{[]int{2, 3}, 0}, {[]int{3, 3, 1}, 2}}, s.Rejected)
	assert.Equal(t, 2, s.Chosen[0].CompletionLen())
	sub := s.Subset([]int{1})
	assert.Equal(t, []Source{src(2)}, sub.Source)
	assert.Equal(t, s.Rejected[1:], sub.Rejected)
}

func TestUnpair(t *testing.T) {
	pairs := []Pair{{"p0", "c0", "r0", nil, src(1)}, {"p1", "c1", "r1", nil, src(2)}, {"p2", "c2", "r2", nil, src(3)}}
	want := []Labeled{
		{"p0", "c0", true, nil, src(1)}, {"p1", "c1", true, nil, src(2)}, {"p2", "c2", true, nil, src(3)},
		{"p0", "r0", false, nil, src(1)}, {"p1", "r1", false, nil, src(2)}, {"p2", "r2", false, nil, src(3)},
	}
	assert.Equal(t, want, Unpair(pairs))

	// Past 1000 pairs the order restarts per chunk of 1000.
	var many []Pair
	for i := range 1001 {
		many = append(many, Pair{Chosen: "c", Rejected: "r", Source: src(i + 1)})
	}
	got := Unpair(many)
	require.Len(t, got, 2002)
	check := []struct {
		at    int
		line  int
		label bool
	}{{0, 1, true}, {999, 1000, true}, {1000, 1, false}, {1999, 1000, false}, {2000, 1001, true}, {2001, 1001, false}}
	for _, c := range check {
		assert.Equal(t, c.line, got[c.at].Source.Line, "at %d", c.at)
		assert.Equal(t, c.label, got[c.at].Label, "at %d", c.at)
	}
}

func TestNewUnpairedSet(t *testing.T) {
	ex := []Labeled{{"ab", "x", true, nil, src(1)}, {"cd", "yy", false, nil, src(2)}, {"e", "zzz", true, nil, src(3)}}
	s, err := NewUnpairedSet(ex, tokenizer.NewBytes(), Truncation{})
	require.NoError(t, err)
	assert.Equal(t, []Row{
		{byteIDs(bos, "abx", eos), 3},
		{byteIDs(bos, "cdyy", eos), 3},
		{byteIDs(bos, "ezzz", eos), 2},
	}, s.Rows)
	assert.Equal(t, []bool{true, false, true}, s.Labels)

	// Each example decides its own truncation: 3 + 2 ≤ 5 fits, 3 + 3 > 5
	// cuts the prompt to "d" and 2 + 3 fits.
	s, err = NewUnpairedSet(ex[:2], tokenizer.NewBytes(), Truncation{5, 2, KeepEnd})
	require.NoError(t, err)
	assert.Equal(t, []Row{{byteIDs(bos, "abx", eos), 3}, {byteIDs("cdyy", eos), 2}}, s.Rows)
}

func TestKLRows(t *testing.T) {
	ex := []Labeled{{"ab", "x", true, nil, src(1)}, {"cd", "yy", false, nil, src(2)}, {"e", "zzz", true, nil, src(3)}}
	bytesTok := tokenizer.NewBytes()
	full, err := NewUnpairedSet(ex, bytesTok, Truncation{})
	require.NoError(t, err)

	// Two examples whose first completion is cut in its own row but fits
	// after the short prompt of the second: KL rows start from untruncated
	// tokens. Row 0: prompt "abcdef" (7) + "wxyz"+EOS (5) > 8 → prompt
	// "cdef", completion cut to 8 − 4 = 4 (EOS lost). KL row 1: BOS +
	// "wxyz"+EOS = 6 ≤ 8 keeps the EOS. KL row 0: 7 + 2 > 8 → prompt "cdef".
	cut, err := NewUnpairedSet([]Labeled{{"abcdef", "wxyz", true, nil, src(1)}, {"", "q", false, nil, src(2)}}, bytesTok, Truncation{8, 4, KeepEnd})
	require.NoError(t, err)
	require.Equal(t, Row{byteIDs("cdefwxyz"), 4}, cut.Rows[0])

	tight, err := NewUnpairedSet([]Labeled{{"a", "b", true, nil, src(1)}, {"", "cd", true, nil, src(2)}}, bytesTok, Truncation{4, 4, KeepEnd})
	require.NoError(t, err)

	tests := []struct {
		name    string
		set     *UnpairedSet
		batch   []int
		want    []Row
		wantErr string
	}{
		{name: "cyclic shift", set: full, batch: []int{0, 1, 2}, want: []Row{
			{byteIDs(bos, "abzzz", eos), 3}, {byteIDs(bos, "cdx", eos), 3}, {byteIDs(bos, "eyy", eos), 2}}},
		{name: "batch order", set: full, batch: []int{2, 0}, want: []Row{
			{byteIDs(bos, "ex", eos), 2}, {byteIDs(bos, "abzzz", eos), 3}}},
		{name: "batch of one", set: full, batch: []int{1}, want: []Row{{byteIDs(bos, "cdyy", eos), 3}}},
		{name: "untruncated tokens re-truncated", set: cut, batch: []int{0, 1}, want: []Row{
			{byteIDs("cdefq", eos), 4}, {byteIDs(bos, "wxyz", eos), 1}}},
		// Own rows fit exactly (2 + 2, 1 + 3). KL row 0: BOS "a" (2) +
		// "cd"+EOS (3) > 4, the prompt is within 4, so the completion keeps
		// 4 − 4 = 0 tokens.
		{name: "empty KL completion", set: tight, batch: []int{0, 1},
			wantErr: "data: KL row 0 (prompt of x.jsonl:1, completion of x.jsonl:2): completion has no tokens left after truncation (max_length 4, max_prompt_length 4)"},
		{name: "index out of range", set: full, batch: []int{0, 3},
			wantErr: "data: KL batch index 3 at position 1 out of range [0, 3)"},
		{name: "empty batch", set: full, batch: []int{},
			wantErr: "data: KL rows need equal, non-zero numbers of prompts and completions, got 0 and 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.set.KLRows(tc.batch)
			if tc.wantErr != "" {
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	// The Subset keeps what KLRows needs.
	got, err := full.Subset([]int{2, 0}).KLRows([]int{0, 1})
	require.NoError(t, err)
	assert.Equal(t, []Row{{byteIDs(bos, "ex", eos), 2}, {byteIDs(bos, "abzzz", eos), 3}}, got)

	// A set built as a literal is taken as untruncated.
	lit := &UnpairedSet{Rows: []Row{{[]int{1, 10}, 1}, {[]int{2, 20}, 1}}, Labels: []bool{true, false}, Source: make([]Source, 2)}
	rows, err := lit.KLRows([]int{0, 1})
	require.NoError(t, err)
	assert.Equal(t, []Row{{[]int{1, 20}, 1}, {[]int{2, 10}, 1}}, rows)
	_, err = lit.KLRows([]int{0, 2})
	assert.EqualError(t, err, "data: KL batch index 2 at position 1 out of range [0, 2)")
	rows, _, err = klRows([][]int{{1, 1}, {2}}, [][]int{{10}, {20}}, Truncation{2, 2, KeepEnd})
	assert.Nil(t, rows)
	assert.EqualError(t, err, "data: KL row 0: completion has no tokens left after truncation (max_length 2, max_prompt_length 2)")
}

func TestPairedSetUnpaired(t *testing.T) {
	tok := tokenizer.NewBytes()
	pairs := []Pair{
		{Prompt: "abcdef", Chosen: "x", Rejected: "yyyyyy", Source: Source{"p.jsonl", 1}},
		{Prompt: "q", Chosen: "zz", Rejected: "w", Source: Source{"p.jsonl", 2}},
	}
	// max_length 9 cuts the first pair's prompt for the long rejected
	// completion in the paired view; unpaired, each example is truncated on
	// its own, as TRL tokenizes the unpaired dataset.
	tr := Truncation{MaxLength: 9, MaxPromptLength: 3, Mode: KeepEnd}
	set, err := NewPairedSet(pairs, tok, tr)
	require.NoError(t, err)
	assert.Equal(t, 3, set.Chosen[0].PromptLen, "paired: the prompt is cut")
	u, err := set.Unpaired()
	require.NoError(t, err)
	want, err := NewUnpairedSet(Unpair(pairs), tok, tr)
	require.NoError(t, err)
	assert.Equal(t, want.Rows, u.Rows, "token-level unpairing equals text-level unpairing")
	assert.Equal(t, []bool{true, true, false, false}, u.Labels, "chosen of the chunk first, as TRL")
	assert.Equal(t, 7, u.Rows[0].PromptLen, "unpaired, chosen 1 keeps BOS and its 6 prompt bytes: 7 + 2 tokens fit in 9")
	// The KL rows of the unpaired view re-pair untruncated tokens.
	kl, err := u.KLRows([]int{0, 2})
	require.NoError(t, err)
	wantKL, err := want.KLRows([]int{0, 2})
	require.NoError(t, err)
	assert.Equal(t, wantKL, kl)
}

func TestNewSFTSet(t *testing.T) {
	noSpecials, err := tokenizer.NewSymbols("abcdhi")
	require.NoError(t, err)
	tests := []struct {
		name      string
		tok       tokenizer.Tokenizer
		sample    Sample
		maxLength int
		want      Row
		wantErr   string
	}{
		{name: "text", tok: tokenizer.NewBytes(), sample: Sample{"", "hi", src(1)}, want: Row{byteIDs(bos, "hi", eos), 1}},
		{name: "text cut keeps start", tok: tokenizer.NewBytes(), sample: Sample{"", "hi", src(1)}, maxLength: 3,
			want: Row{byteIDs(bos, "hi"), 1}},
		{name: "prompt completion", tok: tokenizer.NewBytes(), sample: Sample{"abc", "d", src(1)},
			want: Row{byteIDs(bos, "abcd", eos), 4}},
		{name: "prompt completion cut", tok: tokenizer.NewBytes(), sample: Sample{"abc", "d", src(1)}, maxLength: 5,
			want: Row{byteIDs(bos, "abcd"), 4}},
		{name: "completion cut away", tok: tokenizer.NewBytes(), sample: Sample{"abc", "d", src(7)}, maxLength: 4,
			wantErr: "x.jsonl:7: completion has no tokens left after truncation (max_length 4)"},
		{name: "text without BOS", tok: noSpecials, sample: Sample{"", "hi", src(1)}, want: Row{[]int{4, 5}, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSFTSet([]Sample{tc.sample}, tc.tok, tc.maxLength)
			if tc.wantErr != "" {
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []Row{tc.want}, s.Rows)
			assert.Equal(t, []Source{tc.sample.Source}, s.Subset([]int{0}).Source)
		})
	}
}

func TestFileSets(t *testing.T) {
	read := func(s string) *File {
		f, err := Read(strings.NewReader(s), "x.jsonl", ReadOptions{})
		require.NoError(t, err)
		return f
	}
	tok := tokenizer.NewBytes()
	paired := read(lines(`{"chosen": "The sky is blue.", "rejected": "The sky is green."}`))
	ps, err := paired.PairedSet(tok, DefaultTruncation())
	require.NoError(t, err)
	assert.Equal(t, Row{byteIDs(bos, "The sky is", " blue.", eos), 11}, ps.Chosen[0])
	us, err := paired.UnpairedSet(tok, DefaultTruncation())
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false}, us.Labels)
	assert.Equal(t, Row{byteIDs(bos, "The sky is", " green.", eos), 11}, us.Rows[1])

	unpaired := read(lines(okUnpaired))
	_, err = unpaired.PairedSet(tok, DefaultTruncation())
	assert.EqualError(t, err, "data: x.jsonl holds unpaired data, want paired or implicit")
	_, err = unpaired.SFTSet(tok, 0)
	assert.EqualError(t, err, "data: x.jsonl holds unpaired data, want text or prompt_completion")
	text := read(lines(`{"text": "hi"}`))
	_, err = text.UnpairedSet(tok, DefaultTruncation())
	assert.EqualError(t, err, "data: x.jsonl holds text data, want unpaired, paired or implicit")
	ss, err := text.SFTSet(tok, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, ss.Len())
}
