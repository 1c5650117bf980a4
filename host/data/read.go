package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prefopt/prefopt/core"
)

// Format is the layout of a JSONL file.
type Format int

// Formats. FormatAuto asks [Read] to detect the format from the keys of the
// first non-blank line.
const (
	FormatAuto             Format = iota
	FormatPaired                  // {"prompt", "chosen", "rejected"}
	FormatImplicit                // {"chosen", "rejected"}: prompt is their common prefix
	FormatUnpaired                // {"prompt", "completion", "label"}
	FormatText                    // {"text"}
	FormatPromptCompletion        // {"prompt", "completion"}
)

var formatNames = []string{"auto", "paired", "implicit", "unpaired", "text", "prompt_completion"}

// formatKeys lists each format's keys in the order messages name them.
var formatKeys = [][]string{
	FormatPaired:           {"prompt", "chosen", "rejected"},
	FormatImplicit:         {"chosen", "rejected"},
	FormatUnpaired:         {"prompt", "completion", "label"},
	FormatText:             {"text"},
	FormatPromptCompletion: {"prompt", "completion"},
}

func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Paired reports whether f holds chosen/rejected pairs.
func (f Format) Paired() bool { return f == FormatPaired || f == FormatImplicit }

// ParseFormat returns the format named s: "auto", "paired", "implicit",
// "unpaired", "text" or "prompt_completion".
func ParseFormat(s string) (Format, error) {
	if i := slices.Index(formatNames, s); i >= 0 {
		return Format(i), nil
	}
	return 0, fmt.Errorf("data: unknown format %q (known: %s)", s, strings.Join(formatNames, ", "))
}

// DefaultMaxLineBytes bounds the length of one line, line ending excluded.
const DefaultMaxLineBytes = 64 << 20

// ReadOptions controls [Read].
type ReadOptions struct {
	// Format forces a format; FormatAuto (the zero value) detects it from
	// the first non-blank line.
	Format Format
	// MaxLineBytes bounds a line's length in bytes; 0 means
	// DefaultMaxLineBytes. A longer line is an error naming it.
	MaxLineBytes int
	// Columns lists numeric keys to read besides the format's keys (data
	// columns such as "score_chosen"): every line must have each, as a
	// finite JSON number. Keys not listed stay errors. Names are ASCII
	// letters, digits, '_' and '-', and no format key.
	Columns []string
}

// Source is where an example came from: a file name and a 1-based line.
type Source struct {
	File string
	Line int
}

func (s Source) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// LineError reports bad input at one line of a file.
type LineError struct {
	File string
	Line int
	Msg  string
	Err  error // underlying cause, if any (a tokenizer error, say)
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Unwrap returns the underlying cause.
func (e *LineError) Unwrap() error { return e.Err }

// Pair is one preference pair. For implicit-prompt data Prompt holds the
// extracted prompt and Chosen, Rejected what follows it. Columns holds the
// data columns read (see [ReadOptions]), nil when none were asked for.
type Pair struct {
	Prompt, Chosen, Rejected string
	Columns                  map[string]float64
	Source                   Source
}

// Labeled is one unpaired example: a completion marked desirable (true) or
// undesirable (false). Columns is as in [Pair].
type Labeled struct {
	Prompt, Completion string
	Label              bool
	Columns            map[string]float64
	Source             Source
}

// Sample is one fine-tuning example. For text data Prompt is empty and
// Completion holds the whole text. Fine-tuning keeps no data columns: they
// are checked on reading and dropped.
type Sample struct {
	Prompt, Completion string
	Source             Source
}

// File is the content of one JSONL file. Exactly one of Pairs, Labeled and
// Samples is filled, according to Format. Columns lists the data columns
// every example holds, as asked for in [ReadOptions].
type File struct {
	Name    string
	Format  Format
	Columns []string
	Pairs   []Pair    // FormatPaired, FormatImplicit
	Labeled []Labeled // FormatUnpaired
	Samples []Sample  // FormatText, FormatPromptCompletion
}

// Len returns the number of examples.
func (f *File) Len() int { return len(f.Pairs) + len(f.Labeled) + len(f.Samples) }

// ReadFile reads the JSONL file at path; see [Read].
func ReadFile(path string, opt ReadOptions) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer fh.Close()
	return Read(fh, path, opt)
}

// Read parses JSONL from r; name is the file name used in errors and
// sources. It streams: memory holds one line at a time besides the parsed
// examples. A file with no example is an error.
func Read(r io.Reader, name string, opt ReadOptions) (*File, error) {
	if opt.Format < FormatAuto || opt.Format > FormatPromptCompletion {
		return nil, fmt.Errorf("data: unknown format %v", opt.Format)
	}
	limit := opt.MaxLineBytes
	if limit == 0 {
		limit = DefaultMaxLineBytes
	}
	if limit < 0 {
		return nil, fmt.Errorf("data: max line bytes must be >= 0, got %d", limit)
	}
	if err := checkColumnNames(opt.Columns); err != nil {
		return nil, err
	}
	f := &File{Name: name, Format: opt.Format, Columns: slices.Clone(opt.Columns)}
	formatLine := 0 // line that fixed the format; 0 when forced
	sc := bufio.NewScanner(r)
	// Room for the longest allowed line plus "\r\n"; longer lines that
	// still fit are caught by the explicit length check below.
	sc.Buffer(make([]byte, min(64<<10, limit+2)), limit+2)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		bad := func(format string, a ...any) error {
			return &LineError{File: name, Line: line, Msg: fmt.Sprintf(format, a...)}
		}
		if len(b) > limit {
			return nil, bad("line longer than the %d-byte limit", limit)
		}
		if isBlank(b) {
			continue
		}
		if !utf8.Valid(b) {
			return nil, bad("invalid UTF-8 at byte %d", invalidUTF8At(b)+1)
		}
		obj, msg := parseObject(b)
		if msg != "" {
			return nil, bad("%s", msg)
		}
		if f.Format == FormatAuto {
			fm, msg := detect(obj)
			if msg != "" {
				return nil, bad("%s", msg)
			}
			f.Format, formatLine = fm, line
		}
		cols, msg := columnValues(&obj, opt.Columns)
		if msg != "" {
			return nil, bad("%s", msg)
		}
		if msg := checkKeys(obj, f.Format, formatLine); msg != "" {
			return nil, bad("%s", msg)
		}
		vals, msg := values(obj, f.Format)
		if msg != "" {
			return nil, bad("%s", msg)
		}
		src := Source{File: name, Line: line}
		switch f.Format {
		case FormatPaired:
			f.Pairs = append(f.Pairs, Pair{Prompt: vals["prompt"], Chosen: vals["chosen"], Rejected: vals["rejected"], Columns: cols, Source: src})
		case FormatImplicit:
			p, c, rj := ExtractPrompt(vals["chosen"], vals["rejected"])
			f.Pairs = append(f.Pairs, Pair{Prompt: p, Chosen: c, Rejected: rj, Columns: cols, Source: src})
		case FormatUnpaired:
			f.Labeled = append(f.Labeled, Labeled{Prompt: vals["prompt"], Completion: vals["completion"],
				Label: vals["label"] == "true", Columns: cols, Source: src})
		case FormatText:
			f.Samples = append(f.Samples, Sample{Completion: vals["text"], Source: src})
		case FormatPromptCompletion:
			f.Samples = append(f.Samples, Sample{Prompt: vals["prompt"], Completion: vals["completion"], Source: src})
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{File: name, Line: line + 1, Msg: fmt.Sprintf("line longer than the %d-byte limit", limit)}
		}
		return nil, fmt.Errorf("data: reading %s: %w", name, err)
	}
	if f.Len() == 0 {
		return nil, fmt.Errorf("data: %s: no examples", name)
	}
	return f, nil
}

// checkColumnNames checks ReadOptions.Columns.
func checkColumnNames(cols []string) error {
	for i, c := range cols {
		if _, ok := core.ColumnOf(core.ColumnInput(c)); !ok {
			return fmt.Errorf("data: column %q: want ASCII letters, digits, '_' or '-'", c)
		}
		if isFormatKey(c) || c == "messages" {
			return fmt.Errorf("data: column %q is a key of a data format, not a data column", c)
		}
		if slices.Contains(cols[:i], c) {
			return fmt.Errorf("data: column %q asked for twice", c)
		}
	}
	return nil
}

// columnValues reads the asked-for columns of obj, then removes them from
// obj so that the format's key checks see only the other keys. It returns
// nil when no column is asked for.
func columnValues(obj *object, cols []string) (map[string]float64, string) {
	if len(cols) == 0 {
		return nil, ""
	}
	out := make(map[string]float64, len(cols))
	for _, c := range cols {
		raw, ok := obj.raw[c]
		if !ok {
			return nil, fmt.Sprintf("column %q: missing (asked for, so every line must have it)", c)
		}
		if k := kindOfRaw(raw); k != "a number" {
			return nil, fmt.Sprintf("column %q: want a finite number, got %s", c, k)
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Sprintf("column %q: want a finite number, got %s", c, raw)
		}
		out[c] = v
		delete(obj.raw, c)
	}
	obj.keys = slices.DeleteFunc(obj.keys, func(k string) bool { return slices.Contains(cols, k) })
	return out, ""
}

// isBlank reports whether b holds only JSON whitespace.
func isBlank(b []byte) bool {
	return len(bytes.Trim(b, " \t\r\n")) == 0
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// object is one parsed JSON object: keys in order of appearance and their
// raw values.
type object struct {
	keys []string
	raw  map[string]json.RawMessage
}

// parseObject parses one JSON object, refusing repeated keys and trailing
// data. It returns a message on failure.
func parseObject(b []byte) (object, string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	obj := object{raw: map[string]json.RawMessage{}}
	tok, err := dec.Token()
	if err != nil {
		return obj, jsonMsg(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return obj, fmt.Sprintf("want a JSON object, got %s", kindOfToken(tok))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return obj, jsonMsg(err)
		}
		key, ok := tok.(string)
		if !ok {
			return obj, "invalid JSON: object key is not a string"
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return obj, jsonMsg(err)
		}
		if _, dup := obj.raw[key]; dup {
			return obj, fmt.Sprintf("key %q appears twice", key)
		}
		obj.keys = append(obj.keys, key)
		obj.raw[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return obj, jsonMsg(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return obj, "trailing data after the JSON object"
	}
	return obj, ""
}

func jsonMsg(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return "invalid JSON: " + se.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of line"
	}
	return "invalid JSON: " + err.Error()
}

func kindOfToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case nil:
		return "null"
	}
	return "a number"
}

func kindOfRaw(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a bool"
	case 'n':
		return "null"
	}
	return "a number"
}

const conversationalMsg = "conversational data (lists of role/content messages) needs a chat template, " +
	"which prefopt does not apply; render each conversation to text first"

// detect returns the format whose keys are exactly the object's keys known
// to some format. Unknown keys are left to checkKeys.
func detect(obj object) (Format, string) {
	if _, ok := obj.raw["messages"]; ok {
		return 0, conversationalMsg
	}
	var known []string
	for _, k := range obj.keys {
		if isFormatKey(k) {
			if obj.raw[k][0] == '[' {
				return 0, conversationalMsg
			}
			known = append(known, k)
		}
	}
	if fm := formatOfKeys(known); fm != FormatAuto {
		return fm, ""
	}
	return 0, fmt.Sprintf("keys {%s} match no format; want one of %s", strings.Join(obj.keys, ", "), formatList())
}

func isFormatKey(k string) bool {
	for _, keys := range formatKeys[1:] {
		if slices.Contains(keys, k) {
			return true
		}
	}
	return false
}

// formatOfKeys returns the format with exactly these keys, or FormatAuto.
func formatOfKeys(keys []string) Format {
	for fm := FormatPaired; fm <= FormatPromptCompletion; fm++ {
		want := formatKeys[fm]
		if len(keys) == len(want) && !slices.ContainsFunc(keys, func(k string) bool { return !slices.Contains(want, k) }) {
			return fm
		}
	}
	return FormatAuto
}

func formatList() string {
	var parts []string
	for fm := FormatPaired; fm <= FormatPromptCompletion; fm++ {
		parts = append(parts, fmt.Sprintf("%s {%s}", fm, strings.Join(formatKeys[fm], ", ")))
	}
	return strings.Join(parts, ", ")
}

// checkKeys checks that obj has exactly the keys of fm. formatLine is the
// line that set the format, 0 if it was forced.
func checkKeys(obj object, fm Format, formatLine int) string {
	want := formatKeys[fm]
	if other := formatOfKeys(obj.keys); other != FormatAuto && other != fm {
		origin := "as asked"
		if formatLine > 0 {
			origin = fmt.Sprintf("from line %d", formatLine)
		}
		return fmt.Sprintf("keys {%s} make a %s example but the file is %s (%s)", strings.Join(obj.keys, ", "), other, fm, origin)
	}
	for _, k := range obj.keys {
		if !slices.Contains(want, k) {
			if k == "messages" {
				return conversationalMsg
			}
			return fmt.Sprintf("unknown key %q; a %s example has keys {%s}", k, fm, strings.Join(want, ", "))
		}
	}
	for _, k := range want {
		if _, ok := obj.raw[k]; !ok {
			return fmt.Sprintf("missing key %q; a %s example has keys {%s}", k, fm, strings.Join(want, ", "))
		}
	}
	return ""
}

// values decodes the values of fm's keys; label becomes "true" or "false".
func values(obj object, fm Format) (map[string]string, string) {
	vals := map[string]string{}
	for _, k := range formatKeys[fm] {
		raw := obj.raw[k]
		if k == "label" {
			if raw[0] != 't' && raw[0] != 'f' {
				return nil, fmt.Sprintf("key %q: want true or false, got %s", k, kindOfRaw(raw))
			}
			vals[k] = string(raw)
			continue
		}
		if raw[0] == '[' {
			return nil, fmt.Sprintf("key %q: %s", k, conversationalMsg)
		}
		if raw[0] != '"' {
			return nil, fmt.Sprintf("key %q: want a string, got %s", k, kindOfRaw(raw))
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Sprintf("key %q: %v", k, err)
		}
		if s == "" && k != "prompt" {
			return nil, fmt.Sprintf("key %q: empty", k)
		}
		vals[k] = s
	}
	return vals, ""
}
