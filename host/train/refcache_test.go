package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/model"
)

func cacheSeqs() []model.Seq {
	set := pairedData(3, 5, tinyCfg.Vocab)
	var seqs []model.Seq
	for _, r := range append(set.Chosen, set.Rejected...) {
		seqs = append(seqs, completionSeq(r))
	}
	return seqs
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestScoreCacheHitAndMiss(t *testing.T) {
	w := newWeights(t, tinyCfg, 1)
	seqs := cacheSeqs()
	dir := t.TempDir()
	c := ScoreCache{Dir: dir, Rows: 4}

	sc, err := model.NewScorer(w, 4, 4)
	require.NoError(t, err)
	defer sc.Close()
	direct, err := sc.ScoreAll(seqs)
	require.NoError(t, err)

	first, hit, err := c.Score(w, seqs)
	require.NoError(t, err)
	assert.False(t, hit, "an empty cache cannot answer")
	assert.Equal(t, direct, first, "a miss returns the scorer's values")
	require.Len(t, cacheFiles(t, dir), 1, "one file, no temp files left")
	assert.Regexp(t, `^ref-[0-9a-f]{32}\.f64$`, cacheFiles(t, dir)[0])

	second, hit, err := c.Score(w, seqs)
	require.NoError(t, err)
	assert.True(t, hit)
	require.Len(t, second, len(first))
	for i := range first {
		assert.Equal(t, math.Float64bits(first[i]), math.Float64bits(second[i]), "seq %d: cached bits", i)
	}

	off, hit, err := ScoreCache{Rows: 4}.Score(w, seqs)
	require.NoError(t, err)
	assert.False(t, hit, "no directory, no cache")
	assert.Equal(t, direct, off)
}

func TestScoreCacheKey(t *testing.T) {
	w := newWeights(t, tinyCfg, 1)
	seqs := cacheSeqs()
	base := cacheKey(w, seqs)
	assert.Equal(t, base, cacheKey(w.Clone(), cacheSeqs()), "equal inputs, equal key")

	cases := []struct {
		name   string
		change func(w *model.Weights, s []model.Seq) []model.Seq
	}{
		{"one weight one ulp", func(w *model.Weights, s []model.Seq) []model.Seq {
			d := w.Data("head.weight")
			d[3] = math.Nextafter32(d[3], 1)
			return s
		}},
		{"one token", func(_ *model.Weights, s []model.Seq) []model.Seq {
			s[2].Tokens = append([]int(nil), s[2].Tokens...)
			s[2].Tokens[1]++
			return s
		}},
		{"span start", func(_ *model.Weights, s []model.Seq) []model.Seq { s[0].From++; return s }},
		{"span end", func(_ *model.Weights, s []model.Seq) []model.Seq { s[0].To--; return s }},
		{"sequence dropped", func(_ *model.Weights, s []model.Seq) []model.Seq { return s[:len(s)-1] }},
		{"sequences reordered", func(_ *model.Weights, s []model.Seq) []model.Seq { s[0], s[1] = s[1], s[0]; return s }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w2 := w.Clone()
			s2 := c.change(w2, cacheSeqs())
			assert.NotEqual(t, base, cacheKey(w2, s2))
		})
	}
	t.Run("model shape", func(t *testing.T) {
		cfg := tinyCfg
		cfg.Heads = 4 // same weight shapes, different model
		w2, err := model.Zeros(cfg)
		require.NoError(t, err)
		w0, err := model.Zeros(tinyCfg)
		require.NoError(t, err)
		assert.NotEqual(t, cacheKey(w0, seqs), cacheKey(w2, seqs))
	})
}

func TestScoreCacheMissAfterChange(t *testing.T) {
	w := newWeights(t, tinyCfg, 1)
	seqs := cacheSeqs()
	c := ScoreCache{Dir: t.TempDir(), Rows: 4}
	_, _, err := c.Score(w, seqs)
	require.NoError(t, err)
	w.Data("tok.weight")[0] += 0.5
	_, hit, err := c.Score(w, seqs)
	require.NoError(t, err)
	assert.False(t, hit, "changed weights must not read the old scores")
	assert.Len(t, cacheFiles(t, c.Dir), 2)
}

func TestScoreCacheCorruptFile(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(b []byte) []byte
		want    string
	}{
		{"flipped bit", func(b []byte) []byte { b[3] ^= 0x10; return b }, "checksum mismatch"},
		{"flipped checksum bit", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "checksum mismatch"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-5] }, "bytes, want"},
		{"empty", func([]byte) []byte { return nil }, "0 bytes, want"},
		{"extra bytes", func(b []byte) []byte { return append(b, 0) }, "bytes, want"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWeights(t, tinyCfg, 1)
			seqs := cacheSeqs()
			cache := ScoreCache{Dir: t.TempDir(), Rows: 4}
			_, _, err := cache.Score(w, seqs)
			require.NoError(t, err)
			path := filepath.Join(cache.Dir, cacheFiles(t, cache.Dir)[0])
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, c.corrupt(b), 0o644))

			scores, hit, err := cache.Score(w, seqs)
			require.Error(t, err, "a damaged cache file must not be used")
			assert.Nil(t, scores)
			assert.False(t, hit)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), path, "the message names the file")
			assert.Contains(t, err.Error(), "delete it to recompute")
			assert.True(t, strings.HasPrefix(err.Error(), "train: reference cache "))
		})
	}
}

func TestWriteScoresAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ref-x.f64")
	first := []float64{-1.5, -2.25, math.SmallestNonzeroFloat64}
	require.NoError(t, writeScores(path, first))
	got, err := readScores(path, len(first))
	require.NoError(t, err)
	assert.Equal(t, first, got)

	second := []float64{-3, -4, -5}
	require.NoError(t, writeScores(path, second), "an existing file is replaced")
	got, err = readScores(path, len(second))
	require.NoError(t, err)
	assert.Equal(t, second, got)
	assert.Equal(t, []string{"ref-x.f64"}, cacheFiles(t, dir), "no temp file is left behind")

	// A rename that cannot happen (the target is a non-empty directory)
	// fails with a wrapped error and removes the temp file.
	blocked := filepath.Join(dir, "ref-y.f64")
	require.NoError(t, os.MkdirAll(filepath.Join(blocked, "sub"), 0o755))
	err = writeScores(blocked, second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "train: reference cache")
	assert.ElementsMatch(t, []string{"ref-x.f64", "ref-y.f64"}, cacheFiles(t, dir), "the temp file is removed on failure")
}
