package data

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/tokenizer"
)

func TestReadColumns(t *testing.T) {
	in := lines(
		`{"prompt": "p", "chosen": "c", "rejected": "r", "score_chosen": 8.5, "score_rejected": 2}`,
		`{"score_rejected": -1e-3, "prompt": "q", "chosen": "d", "rejected": "e", "score_chosen": 0}`,
	)
	f, err := Read(strings.NewReader(in), "x.jsonl", ReadOptions{Columns: []string{"score_chosen", "score_rejected"}})
	require.NoError(t, err)
	assert.Equal(t, FormatPaired, f.Format, "detected from the format keys alone")
	assert.Equal(t, []string{"score_chosen", "score_rejected"}, f.Columns)
	require.Len(t, f.Pairs, 2)
	assert.Equal(t, map[string]float64{"score_chosen": 8.5, "score_rejected": 2}, f.Pairs[0].Columns)
	assert.Equal(t, map[string]float64{"score_chosen": 0, "score_rejected": -1e-3}, f.Pairs[1].Columns)
	assert.Equal(t, "q", f.Pairs[1].Prompt)

	// Without asking, the same keys are unknown keys.
	_, err = Read(strings.NewReader(in), "x.jsonl", ReadOptions{})
	require.Error(t, err)
	assert.Equal(t, `x.jsonl:1: unknown key "score_chosen"; a paired example has keys {prompt, chosen, rejected}`, err.Error())

	u, err := Read(strings.NewReader(lines(`{"prompt": "p", "completion": "c", "label": true, "weight": 0.25}`)), "u.jsonl",
		ReadOptions{Columns: []string{"weight"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"weight": 0.25}, u.Labeled[0].Columns)
}

func TestReadColumnErrors(t *testing.T) {
	cols := ReadOptions{Columns: []string{"margin"}}
	tests := []struct {
		name    string
		in      string
		opt     ReadOptions
		wantErr string
	}{
		{"missing on a later line", lines(`{"chosen": "c", "rejected": "r", "margin": 1}`, `{"chosen": "c", "rejected": "r"}`), cols,
			`x.jsonl:2: column "margin": missing (asked for, so every line must have it)`},
		{"string", lines(`{"chosen": "c", "rejected": "r", "margin": "1"}`), cols,
			`x.jsonl:1: column "margin": want a finite number, got a string`},
		{"null", lines(`{"chosen": "c", "rejected": "r", "margin": null}`), cols,
			`x.jsonl:1: column "margin": want a finite number, got null`},
		{"overflows float64", lines(`{"chosen": "c", "rejected": "r", "margin": 1e400}`), cols,
			`x.jsonl:1: column "margin": want a finite number, got 1e400`},
		{"other keys stay unknown", lines(`{"chosen": "c", "rejected": "r", "margin": 1, "id": 3}`), cols,
			`x.jsonl:1: unknown key "id"; a implicit example has keys {chosen, rejected}`},
		{"bad name", "", ReadOptions{Columns: []string{"a b"}}, `data: column "a b": want ASCII letters, digits, '_' or '-'`},
		{"empty name", "", ReadOptions{Columns: []string{""}}, `data: column "": want ASCII letters, digits, '_' or '-'`},
		{"format key", "", ReadOptions{Columns: []string{"prompt"}}, `data: column "prompt" is a key of a data format, not a data column`},
		{"twice", "", ReadOptions{Columns: []string{"m", "m"}}, `data: column "m" asked for twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "x.jsonl", tc.opt)
			require.Error(t, err)
			assert.Equal(t, tc.wantErr, err.Error())
		})
	}
}

// TestColumnsFollowExamples follows columns through tokenizing,
// truncation, unpairing, subsets and shuffled batches: every example keeps
// the values of the line it came from.
func TestColumnsFollowExamples(t *testing.T) {
	var sb strings.Builder
	const n = 7
	for i := range n {
		// score = line number, so each value names its source line.
		sb.WriteString(`{"prompt": "` + strings.Repeat("p", 5+i) + `", "chosen": "c` + strings.Repeat("x", i) +
			`", "rejected": "r", "score": ` + string(rune('1'+i)) + "}\n")
	}
	f, err := Read(strings.NewReader(sb.String()), "s.jsonl", ReadOptions{Columns: []string{"score"}})
	require.NoError(t, err)
	tr := Truncation{MaxLength: 8, MaxPromptLength: 4, Mode: KeepEnd}
	tok := tokenizer.NewBytes()

	ps, err := f.PairedSet(tok, tr)
	require.NoError(t, err)
	check := func(what string, cols Columns, src []Source) {
		t.Helper()
		v, err := cols.Column("score")
		require.NoError(t, err, what)
		require.Len(t, v, len(src), what)
		for i := range v {
			assert.Equal(t, float64(src[i].Line), v[i], "%s: example %d from %v", what, i, src[i])
		}
	}
	check("paired", ps.Columns, ps.Source)
	batches, err := Batches(ps.Len(), 1, BatchOptions{Size: 3, Seed: 5})
	require.NoError(t, err)
	for _, b := range batches {
		sub := ps.Subset(b)
		check("paired batch", sub.Columns, sub.Source)
	}

	us, err := f.UnpairedSet(tok, tr)
	require.NoError(t, err)
	check("unpaired", us.Columns, us.Source)
	sub := us.Subset([]int{13, 0, 6, 7})
	check("unpaired subset", sub.Columns, sub.Source)

	_, err = ps.Columns.Column("margin")
	require.Error(t, err)
	assert.Equal(t, `data: column "margin" was not read from the data (read: score); list it in the data columns to read`, err.Error())
	var none Columns
	_, err = none.Column("score")
	assert.ErrorContains(t, err, "(read: none)")
}

func TestSetColumnsMustAgree(t *testing.T) {
	pairs := []Pair{
		{Prompt: "p", Chosen: "c", Rejected: "r", Columns: map[string]float64{"a": 1}, Source: src(1)},
		{Prompt: "p", Chosen: "c", Rejected: "r", Columns: map[string]float64{"b": 1}, Source: src(2)},
	}
	_, err := NewPairedSet(pairs, tokenizer.NewBytes(), DefaultTruncation())
	require.Error(t, err)
	assert.Equal(t, `x.jsonl:2: column "b": not a column of the first example`, err.Error())
	pairs[0].Columns = nil
	_, err = NewPairedSet(pairs, tokenizer.NewBytes(), DefaultTruncation())
	require.Error(t, err)
	assert.Equal(t, "x.jsonl:2: has data columns but the first example has none", err.Error())
}

// FuzzReadColumns: with a column asked for, a file either fails with a
// message naming its line, or every example holds a finite value for it.
func FuzzReadColumns(f *testing.F) {
	for _, s := range []string{
		`{"chosen": "c", "rejected": "r", "score": 1}`, `{"chosen": "c", "rejected": "r", "score": -1e308}`,
		`{"chosen": "c", "rejected": "r", "score": "1"}`, `{"prompt": "p", "completion": "c", "label": true, "score": 0}`,
		`{"text": "t", "score": 1e999}`, `{"score": 1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		file, err := Read(strings.NewReader(in), "f", ReadOptions{Columns: []string{"score"}, MaxLineBytes: 1 << 10})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") && !strings.HasPrefix(err.Error(), "data:") {
				t.Fatalf("error names neither the file nor the package: %v", err)
			}
			return
		}
		check := func(cols map[string]float64) {
			v, ok := cols["score"]
			if !ok || len(cols) != 1 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("columns %v", cols)
			}
		}
		for _, p := range file.Pairs {
			check(p.Columns)
		}
		for _, l := range file.Labeled {
			check(l.Columns)
		}
	})
}
