package sentiment

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultFortunes is where Debian's fortunes package installs its English
// quote files.
const DefaultFortunes = "/usr/share/games/fortunes"

// installFortunes says how to get the corpus.
const installFortunes = "install Debian's fortunes package: apt-get install -y fortunes"

// skipFiles are fortune files that are not English prose.
var skipFiles = []string{"ascii-art", "translate-me"}

// ReadCorpus returns the cleaned, deduplicated quotes of the fortune files
// in dir (every file without an extension; the .dat indexes, .u8 copies,
// the offensive off/ subdirectory and [skipFiles] are skipped), in file
// then quote order, keeping those of minChars to maxChars bytes. See
// [CleanQuote] for the cleaning.
func ReadCorpus(dir string, minChars, maxChars int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sentiment: no fortune files in %s: %s", dir, installFortunes)
	}
	if err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	files := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.Contains(name, ".") || slices.Contains(skipFiles, name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("sentiment: %w", err)
		}
		files++
		for _, raw := range splitFortunes(string(b)) {
			q, ok := CleanQuote(raw)
			if !ok || len(q) < minChars || len(q) > maxChars || seen[q] {
				continue
			}
			seen[q] = true
			out = append(out, q)
		}
	}
	if files == 0 {
		return nil, fmt.Errorf("sentiment: no fortune files in %s: %s", dir, installFortunes)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sentiment: %s: no quote of %d to %d characters", dir, minChars, maxChars)
	}
	return out, nil
}

// splitFortunes splits a fortune file on its "%" lines.
func splitFortunes(s string) []string {
	var out []string
	var cur []string
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, "\r") == "%" {
			out = append(out, strings.Join(cur, "\n"))
			cur = cur[:0]
			continue
		}
		cur = append(cur, line)
	}
	return append(out, strings.Join(cur, "\n"))
}

// CleanQuote normalises one fortune: attribution lines (indented, starting
// with "--") are dropped, whitespace runs become one space, and the ends
// are trimmed. It reports false for a quote that is not plain English
// prose: a byte outside printable ASCII, or fewer than 70% letters among
// its non-space bytes (tables, code, ASCII art).
func CleanQuote(raw string) (string, bool) {
	var kept []string
	for _, line := range strings.Split(raw, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") && t != line {
			continue
		}
		kept = append(kept, t)
	}
	q := strings.Join(strings.Fields(strings.Join(kept, " ")), " ")
	if q == "" {
		return "", false
	}
	letters, other := 0, 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c < ' ' || c > '~':
			return "", false
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters++
		case c != ' ':
			other++
		}
	}
	return q, letters*10 >= (letters+other)*7
}

// shuffled returns a copy of s in a seeded random order.
func shuffled(s []string, seed uint64) []string {
	out := slices.Clone(s)
	rng := rand.New(rand.NewPCG(seed, 0x5e17))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// PromptOf returns the first words of a quote, the prompt the experiment
// completes, or false when the quote has no more than words words.
func PromptOf(quote string, words int) (string, bool) {
	f := strings.Fields(quote)
	if len(f) <= words {
		return "", false
	}
	return strings.Join(f[:words], " "), true
}
