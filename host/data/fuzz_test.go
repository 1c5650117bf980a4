package data

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prefopt/prefopt/host/tokenizer"
)

// addExampleFiles seeds f with the shipped example files, each under every
// format option.
func addExampleFiles(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "data", "*.jsonl"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no example files: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for fm := range uint8(6) {
			f.Add(string(b), fm)
		}
	}
}

// FuzzRead checks that Read never panics, reports failures as *LineError or
// "data: " errors, and that what it accepts is well formed, survives a
// write–read round trip and tokenizes within the truncation bounds.
func FuzzRead(f *testing.F) {
	addExampleFiles(f)
	for _, s := range []string{
		"", "\n\n", "{}", `{"text": "a"}{"text": "b"}`, `{"chosen": "a", "chosen": "b"}`,
		"\xef\xbb\xbf{\"text\": \"x\"}\r\n", `{"chosen": "x\u00e9", "rejected": "x\u00e8"}`,
		`{"prompt": "p", "completion": "c", "label": tru}`, "{\"text\": \"\xff\"}",
		`{"messages": [{"role": "user", "content": "hi"}]}`, `[{"text": "a"}]`,
	} {
		f.Add(s, uint8(0))
	}
	const maxLine = 1 << 10
	tr := Truncation{MaxLength: 16, MaxPromptLength: 8, Mode: KeepEnd}
	tok := tokenizer.NewBytes()
	f.Fuzz(func(t *testing.T, in string, fm uint8) {
		opt := ReadOptions{Format: Format(fm % 6), MaxLineBytes: maxLine}
		file, err := Read(strings.NewReader(in), "f", opt)
		if err != nil {
			var le *LineError
			if errors.As(err, &le) {
				if le.Line < 1 || le.File != "f" || le.Msg == "" {
					t.Fatalf("bad LineError %+v", le)
				}
			} else if !strings.HasPrefix(err.Error(), "data: ") {
				t.Fatalf("error without prefix or position: %v", err)
			}
			return
		}
		if file.Len() == 0 || file.Format == FormatAuto {
			t.Fatalf("accepted %d examples of format %v", file.Len(), file.Format)
		}
		if opt.Format != FormatAuto && file.Format != opt.Format {
			t.Fatalf("forced %v, got %v", opt.Format, file.Format)
		}
		var out strings.Builder
		enc := json.NewEncoder(&out)
		line := 0
		nonEmpty := func(s string) {
			if s == "" || !utf8.ValidString(s) {
				t.Fatalf("accepted empty or invalid completion %q", s)
			}
		}
		checkLine := func(s Source) {
			if s.Line <= line {
				t.Fatalf("source lines not increasing: %d after %d", s.Line, line)
			}
			line = s.Line
		}
		for _, p := range file.Pairs {
			checkLine(p.Source)
			nonEmpty(p.Chosen)
			nonEmpty(p.Rejected)
			if file.Format == FormatImplicit {
				_ = enc.Encode(map[string]string{"chosen": p.Prompt + p.Chosen, "rejected": p.Prompt + p.Rejected})
			} else {
				_ = enc.Encode(map[string]string{"prompt": p.Prompt, "chosen": p.Chosen, "rejected": p.Rejected})
			}
		}
		for _, l := range file.Labeled {
			checkLine(l.Source)
			nonEmpty(l.Completion)
			_ = enc.Encode(map[string]any{"prompt": l.Prompt, "completion": l.Completion, "label": l.Label})
		}
		for _, s := range file.Samples {
			checkLine(s.Source)
			nonEmpty(s.Completion)
			if file.Format == FormatText {
				_ = enc.Encode(map[string]string{"text": s.Completion})
			} else {
				_ = enc.Encode(map[string]string{"prompt": s.Prompt, "completion": s.Completion})
			}
		}
		// Escaping can lengthen a line past the limit; only compare when
		// every written line fits.
		fits := true
		for _, l := range strings.Split(out.String(), "\n") {
			fits = fits && len(l) <= maxLine
		}
		if fits {
			back, err := Read(strings.NewReader(out.String()), "f", ReadOptions{MaxLineBytes: maxLine})
			if err != nil {
				t.Fatalf("re-reading written data: %v\n%s", err, out.String())
			}
			if back.Format != file.Format || back.Len() != file.Len() {
				t.Fatalf("round trip changed format %v→%v or count %d→%d", file.Format, back.Format, file.Len(), back.Len())
			}
			for i := range file.Pairs {
				a, b := file.Pairs[i], back.Pairs[i]
				if a.Prompt != b.Prompt || a.Chosen != b.Chosen || a.Rejected != b.Rejected {
					t.Fatalf("pair %d: %+v became %+v", i, a, b)
				}
			}
			for i := range file.Labeled {
				a, b := file.Labeled[i], back.Labeled[i]
				if a.Prompt != b.Prompt || a.Completion != b.Completion || a.Label != b.Label {
					t.Fatalf("example %d: %+v became %+v", i, a, b)
				}
			}
			for i := range file.Samples {
				a, b := file.Samples[i], back.Samples[i]
				if a.Prompt != b.Prompt || a.Completion != b.Completion {
					t.Fatalf("sample %d: %+v became %+v", i, a, b)
				}
			}
		}
		var rows []Row
		switch {
		case file.Format.Paired():
			s, err := file.PairedSet(tok, tr)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(s.Chosen, s.Rejected...)
		case file.Format == FormatUnpaired:
			s, err := file.UnpairedSet(tok, tr)
			if err != nil {
				t.Fatal(err)
			}
			rows = s.Rows
			all := make([]int, s.Len())
			for i := range all {
				all[i] = i
			}
			kl, err := s.KLRows(all)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, kl...)
		default:
			// A prompt of max_length tokens or more leaves no room for the
			// completion: the one error SFT data may give here.
			s, err := file.SFTSet(tok, tr.MaxLength)
			var le *LineError
			if errors.As(err, &le) && strings.Contains(le.Msg, "no tokens left") {
				prompt := file.Samples[slices.IndexFunc(file.Samples, func(s Sample) bool { return s.Source.Line == le.Line })].Prompt
				if len(prompt)+1 < tr.MaxLength {
					t.Fatalf("%v with a %d-byte prompt", err, len(prompt))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rows = s.Rows
		}
		for i, r := range rows {
			if len(r.Tokens) > tr.MaxLength || r.CompletionLen() < 1 || r.PromptLen < 0 {
				t.Fatalf("row %d out of bounds: %+v", i, r)
			}
		}
	})
}

// FuzzExtractPrompt checks that the split reassembles both inputs, falls on
// code point boundaries and leaves non-empty completions.
func FuzzExtractPrompt(f *testing.F) {
	for _, c := range [][2]string{
		{"The sky is blue.", "The sky is green."}, {"abc", "ab"}, {"a ", "b"}, {"same", "same"},
		{"café au lait", "café noir"}, {"é", "è"}, {"a  b", "a  c"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, chosen, rejected string) {
		if chosen == "" || rejected == "" || !utf8.ValidString(chosen) || !utf8.ValidString(rejected) {
			return
		}
		p, c, r := ExtractPrompt(chosen, rejected)
		if p+c != chosen || p+r != rejected {
			t.Fatalf("split (%q, %q, %q) does not reassemble (%q, %q)", p, c, r, chosen, rejected)
		}
		if c == "" || r == "" {
			t.Fatalf("empty completion from (%q, %q)", chosen, rejected)
		}
		if !utf8.ValidString(p) || !utf8.ValidString(c) {
			t.Fatalf("split inside a code point: (%q, %q, %q)", p, c, r)
		}
	})
}
