package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and that an accepted document's
// resolved form parses again to the same resolved form. Seeds: the files in
// ../../examples and the corpus in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.toml"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data, "fuzz.toml")
		if err != nil {
			return
		}
		text, err := e.Resolved()
		if err != nil {
			t.Fatalf("accepted document does not encode: %v", err)
		}
		again, err := Parse(text, "resolved.toml")
		if err != nil {
			t.Fatalf("resolved document does not parse: %v\n%s", err, text)
		}
		text2, err := again.Resolved()
		if err != nil {
			t.Fatal(err)
		}
		if string(text) != string(text2) {
			t.Fatalf("resolved form not stable:\n%s\n---\n%s", text, text2)
		}
	})
}
