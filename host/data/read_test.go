package data

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	okPaired   = `{"prompt": "p", "chosen": "c", "rejected": "r"}`
	okUnpaired = `{"prompt": "p", "completion": "c", "label": true}`
)

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		opt     ReadOptions
		line    int
		wantErr string
	}{
		{"not json", lines(okPaired, `hello`), ReadOptions{}, 2,
			"x.jsonl:2: invalid JSON: invalid character 'h' looking for beginning of value"},
		{"truncated object", lines(`{"prompt": "p", "chosen": "c"`), ReadOptions{}, 1,
			"x.jsonl:1: invalid JSON: unexpected end of line"},
		{"missing comma", lines(`{"prompt": "p" "chosen": "c"}`), ReadOptions{}, 1,
			"x.jsonl:1: invalid JSON: invalid character '\"' after object key:value pair"},
		{"trailing comma", lines(`{"chosen": "c", "rejected": "r",}`), ReadOptions{}, 1,
			"x.jsonl:1: invalid JSON: invalid character '}' looking for beginning of object key string"},
		{"trailing data", lines(okPaired + ` {}`), ReadOptions{}, 1,
			"x.jsonl:1: trailing data after the JSON object"},
		{"two objects", lines(okPaired + okPaired), ReadOptions{}, 1,
			"x.jsonl:1: trailing data after the JSON object"},
		{"array line", lines(`[1, 2]`), ReadOptions{}, 1, "x.jsonl:1: want a JSON object, got an array"},
		{"string line", lines(`"text"`), ReadOptions{}, 1, "x.jsonl:1: want a JSON object, got a string"},
		{"null line", lines(`null`), ReadOptions{}, 1, "x.jsonl:1: want a JSON object, got null"},
		{"number line", lines(`12`), ReadOptions{}, 1, "x.jsonl:1: want a JSON object, got a number"},
		{"repeated key", lines(`{"chosen": "a", "chosen": "b", "rejected": "r"}`), ReadOptions{}, 1,
			`x.jsonl:1: key "chosen" appears twice`},
		{"invalid utf-8", lines(okPaired, "{\"prompt\": \"p\xff\", \"chosen\": \"c\", \"rejected\": \"r\"}"), ReadOptions{}, 2,
			"x.jsonl:2: invalid UTF-8 at byte 14"},
		{"no format", lines(`{"prompt": "p", "chosen": "c"}`), ReadOptions{}, 1,
			"x.jsonl:1: keys {prompt, chosen} match no format; want one of paired {prompt, chosen, rejected}, " +
				"implicit {chosen, rejected}, unpaired {prompt, completion, label}, text {text}, prompt_completion {prompt, completion}"},
		{"empty object", lines(`{}`), ReadOptions{}, 1,
			"x.jsonl:1: keys {} match no format; want one of paired {prompt, chosen, rejected}, " +
				"implicit {chosen, rejected}, unpaired {prompt, completion, label}, text {text}, prompt_completion {prompt, completion}"},
		{"unknown key first line", lines(`{"prompt": "p", "chosen": "c", "rejected": "r", "score": 1}`), ReadOptions{}, 1,
			`x.jsonl:1: unknown key "score"; a paired example has keys {prompt, chosen, rejected}`},
		{"unknown key later line", lines(okPaired, okPaired, `{"prompt": "p", "chosen": "c", "rejected": "r", "id": "7"}`), ReadOptions{}, 3,
			`x.jsonl:3: unknown key "id"; a paired example has keys {prompt, chosen, rejected}`},
		{"missing key", lines(okUnpaired, `{"prompt": "p", "label": false}`), ReadOptions{}, 2,
			`x.jsonl:2: missing key "completion"; a unpaired example has keys {prompt, completion, label}`},
		{"format changes", lines(okPaired, "", okUnpaired), ReadOptions{}, 3,
			"x.jsonl:3: keys {prompt, completion, label} make a unpaired example but the file is paired (from line 1)"},
		{"implicit then paired", lines(`{"chosen": "a b", "rejected": "a c"}`, okPaired), ReadOptions{}, 2,
			"x.jsonl:2: keys {prompt, chosen, rejected} make a paired example but the file is implicit (from line 1)"},
		{"forced format differs", lines(okPaired), ReadOptions{Format: FormatUnpaired}, 1,
			"x.jsonl:1: keys {prompt, chosen, rejected} make a paired example but the file is unpaired (as asked)"},
		{"prompt not string", lines(`{"prompt": 3, "chosen": "c", "rejected": "r"}`), ReadOptions{}, 1,
			`x.jsonl:1: key "prompt": want a string, got a number`},
		{"chosen null", lines(`{"prompt": "p", "chosen": null, "rejected": "r"}`), ReadOptions{}, 1,
			`x.jsonl:1: key "chosen": want a string, got null`},
		{"rejected object", lines(`{"prompt": "p", "chosen": "c", "rejected": {"a": 1}}`), ReadOptions{}, 1,
			`x.jsonl:1: key "rejected": want a string, got an object`},
		{"text bool", lines(`{"text": true}`), ReadOptions{}, 1, `x.jsonl:1: key "text": want a string, got a bool`},
		{"empty chosen", lines(`{"prompt": "p", "chosen": "", "rejected": "r"}`), ReadOptions{}, 1, `x.jsonl:1: key "chosen": empty`},
		{"empty rejected implicit", lines(`{"chosen": "c", "rejected": ""}`), ReadOptions{}, 1, `x.jsonl:1: key "rejected": empty`},
		{"empty completion", lines(`{"prompt": "p", "completion": "", "label": true}`), ReadOptions{}, 1,
			`x.jsonl:1: key "completion": empty`},
		{"empty text", lines(`{"text": ""}`), ReadOptions{}, 1, `x.jsonl:1: key "text": empty`},
		{"label string", lines(`{"prompt": "p", "completion": "c", "label": "true"}`), ReadOptions{}, 1,
			`x.jsonl:1: key "label": want true or false, got a string`},
		{"label number", lines(okUnpaired, `{"prompt": "p", "completion": "c", "label": 1}`), ReadOptions{}, 2,
			`x.jsonl:2: key "label": want true or false, got a number`},
		{"label null", lines(`{"prompt": "p", "completion": "c", "label": null}`), ReadOptions{}, 1,
			`x.jsonl:1: key "label": want true or false, got null`},
		{"conversational first line", lines(`{"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "yo"}], "label": true}`),
			ReadOptions{}, 1, "x.jsonl:1: " + conversationalMsg},
		{"messages key", lines(`{"messages": [{"role": "user", "content": "hi"}]}`), ReadOptions{}, 1, "x.jsonl:1: " + conversationalMsg},
		{"conversational later line", lines(okPaired, `{"prompt": [], "chosen": "c", "rejected": "r"}`), ReadOptions{}, 2,
			`x.jsonl:2: key "prompt": ` + conversationalMsg},
		{"messages key forced", lines(`{"messages": []}`), ReadOptions{Format: FormatText}, 1, "x.jsonl:1: " + conversationalMsg},
		{"too long line", lines(okPaired, `{"text": "abcdefghij"}`), ReadOptions{MaxLineBytes: 20}, 1,
			"x.jsonl:1: line longer than the 20-byte limit"},
		{"too long second line", lines(`{"text": "abcdefgh"}`, `{"text": "abcdefghi"}`), ReadOptions{MaxLineBytes: 20}, 2,
			"x.jsonl:2: line longer than the 20-byte limit"},
		{"far too long line", lines(`{"text": "a"}`, `{"text": "`+strings.Repeat("a", 100)+`"}`), ReadOptions{MaxLineBytes: 20}, 2,
			"x.jsonl:2: line longer than the 20-byte limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Read(strings.NewReader(tc.in), "x.jsonl", tc.opt)
			require.Error(t, err, "got %+v", f)
			assert.EqualError(t, err, tc.wantErr)
			var le *LineError
			require.True(t, errors.As(err, &le), "%T is not a *LineError", err)
			assert.Equal(t, "x.jsonl", le.File)
			assert.Equal(t, tc.line, le.Line)
		})
	}
}

func TestReadWholeFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		opt     ReadOptions
		wantErr string
	}{
		{"empty file", "", ReadOptions{}, "data: x.jsonl: no examples"},
		{"only blank lines", "\n  \n\t\r\n", ReadOptions{Format: FormatPaired}, "data: x.jsonl: no examples"},
		{"bad format option", okPaired, ReadOptions{Format: Format(9)}, "data: unknown format Format(9)"},
		{"negative limit", okPaired, ReadOptions{MaxLineBytes: -1}, "data: max line bytes must be >= 0, got -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "x.jsonl", tc.opt)
			assert.EqualError(t, err, tc.wantErr)
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "nope.jsonl"), ReadOptions{})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "data: open "), err.Error())
}

func TestReadFormats(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		opt     ReadOptions
		format  Format
		pairs   []Pair
		labeled []Labeled
		samples []Sample
	}{
		{name: "paired with blank lines, CRLF and BOM",
			in:     "\xef\xbb\xbf" + okPaired + "\r\n\r\n  \n" + `{"rejected": "r2", "prompt": "", "chosen": "c2"}` + "\r\n",
			format: FormatPaired,
			pairs:  []Pair{{"p", "c", "r", nil, Source{"x.jsonl", 1}}, {"", "c2", "r2", nil, Source{"x.jsonl", 4}}}},
		{name: "implicit extracts prompt",
			in:     lines(`{"chosen": "The sky is blue.", "rejected": "The sky is green."}`),
			format: FormatImplicit,
			pairs:  []Pair{{"The sky is", " blue.", " green.", nil, Source{"x.jsonl", 1}}}},
		{name: "unpaired",
			in:      lines(okUnpaired, `{"label": false, "completion": "d", "prompt": "q"}`),
			format:  FormatUnpaired,
			labeled: []Labeled{{"p", "c", true, nil, Source{"x.jsonl", 1}}, {"q", "d", false, nil, Source{"x.jsonl", 2}}}},
		{name: "text",
			in:      `{"text": "hello\nworld"}`, // no final newline
			format:  FormatText,
			samples: []Sample{{"", "hello\nworld", Source{"x.jsonl", 1}}}},
		{name: "prompt completion",
			in:      lines(`{"prompt": "a", "completion": "b"}`),
			format:  FormatPromptCompletion,
			samples: []Sample{{"a", "b", Source{"x.jsonl", 1}}}},
		{name: "forced format",
			in:     lines(okPaired),
			opt:    ReadOptions{Format: FormatPaired},
			format: FormatPaired,
			pairs:  []Pair{{"p", "c", "r", nil, Source{"x.jsonl", 1}}}},
		{name: "escapes decoded",
			in:      lines(`{"text": "tab\there \u00e9 \"q\""}`),
			format:  FormatText,
			samples: []Sample{{"", "tab\there é \"q\"", Source{"x.jsonl", 1}}}},
		{name: "line at the length limit",
			in:      lines(`{"text": "abcdefghi"}`), // 21 bytes
			opt:     ReadOptions{MaxLineBytes: 21},
			format:  FormatText,
			samples: []Sample{{"", "abcdefghi", Source{"x.jsonl", 1}}}},
		{name: "CRLF line at the length limit",
			in:      `{"text": "abcdefghi"}` + "\r\n",
			opt:     ReadOptions{MaxLineBytes: 21},
			format:  FormatText,
			samples: []Sample{{"", "abcdefghi", Source{"x.jsonl", 1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Read(strings.NewReader(tc.in), "x.jsonl", tc.opt)
			require.NoError(t, err)
			assert.Equal(t, tc.format, f.Format)
			assert.Equal(t, tc.pairs, f.Pairs)
			assert.Equal(t, tc.labeled, f.Labeled)
			assert.Equal(t, tc.samples, f.Samples)
			assert.Equal(t, len(tc.pairs)+len(tc.labeled)+len(tc.samples), f.Len())
		})
	}
}

// TestReadExampleFiles reads the shipped example files.
func TestReadExampleFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "data")
	tests := []struct {
		file    string
		format  Format
		n       int
		wantErr string
	}{
		{file: "paired.jsonl", format: FormatPaired, n: 5},
		{file: "implicit.jsonl", format: FormatImplicit, n: 4},
		{file: "unpaired.jsonl", format: FormatUnpaired, n: 5},
		{file: "sft_text.jsonl", format: FormatText, n: 3},
		{file: "sft_prompt_completion.jsonl", format: FormatPromptCompletion, n: 3},
		{file: "conversational.jsonl", wantErr: filepath.Join(dir, "conversational.jsonl") + ":1: " + conversationalMsg},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := ReadFile(filepath.Join(dir, tc.file), ReadOptions{})
			if tc.wantErr != "" {
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.format, f.Format)
			assert.Equal(t, tc.n, f.Len())
		})
	}
}

func TestParseFormat(t *testing.T) {
	for f := FormatAuto; f <= FormatPromptCompletion; f++ {
		got, err := ParseFormat(f.String())
		require.NoError(t, err)
		assert.Equal(t, f, got)
	}
	_, err := ParseFormat("dpo")
	assert.EqualError(t, err, `data: unknown format "dpo" (known: auto, paired, implicit, unpaired, text, prompt_completion)`)
}
