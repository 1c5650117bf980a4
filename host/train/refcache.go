package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/prefopt/prefopt/host/model"
)

// ScoreCache scores sequences under a frozen model and keeps the scores on
// disk, keyed by a hash of the weights, the model shape and every sequence,
// so a later run with the same reference, data and tokenizer reuses them.
type ScoreCache struct {
	// Dir holds the cache files; "" disables the disk cache.
	Dir string
	// Rows is the scorer's batch size.
	Rows int
}

// Score returns the score of every sequence under w, from the cache when
// present. hit reports whether the cache answered.
func (c ScoreCache) Score(w *model.Weights, seqs []model.Seq) (scores []float64, hit bool, err error) {
	key := cacheKey(w, seqs)
	path := ""
	if c.Dir != "" {
		path = filepath.Join(c.Dir, "ref-"+key+".f64")
		scores, err := readScores(path, len(seqs))
		if err == nil {
			return scores, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, false, err
		}
	}
	rows := max(1, min(c.Rows, len(seqs)))
	sc, err := model.NewScorer(w, rows, rows)
	if err != nil {
		return nil, false, err
	}
	defer sc.Close()
	scores, err = sc.ScoreAll(seqs)
	if err != nil {
		return nil, false, err
	}
	if path != "" {
		if err := writeScores(path, scores); err != nil {
			return nil, false, err
		}
	}
	return scores, false, nil
}

func cacheKey(w *model.Weights, seqs []model.Seq) string {
	h := sha256.New()
	fmt.Fprintf(h, "prefopt-ref-v1 numerics %d %+v\n", model.NumericsVersion, w.Config())
	var buf [8]byte
	for _, name := range w.Names() {
		fmt.Fprintf(h, "%s %v\n", name, w.Shape(name))
		for _, v := range w.Data(name) {
			binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(v))
			h.Write(buf[:4])
		}
	}
	for _, s := range seqs {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(s.Tokens)))
		h.Write(buf[:])
		for _, t := range s.Tokens {
			binary.LittleEndian.PutUint32(buf[:4], uint32(t))
			h.Write(buf[:4])
		}
		binary.LittleEndian.PutUint32(buf[:4], uint32(s.From))
		h.Write(buf[:4])
		binary.LittleEndian.PutUint32(buf[:4], uint32(s.To))
		h.Write(buf[:4])
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// readScores reads a cache file: n little-endian float64 values followed by
// the sha256 of those bytes. A damaged file is reported, not used.
func readScores(path string, n int) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != 8*n+sha256.Size {
		return nil, fmt.Errorf("train: reference cache %s: %d bytes, want %d (delete it to recompute)", path, len(b), 8*n+sha256.Size)
	}
	body := b[:8*n]
	if sum := sha256.Sum256(body); string(sum[:]) != string(b[8*n:]) {
		return nil, fmt.Errorf("train: reference cache %s: checksum mismatch (delete it to recompute)", path)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:]))
	}
	return out, nil
}

// writeScores writes atomically: a temp file in the same directory, synced,
// then renamed.
func writeScores(path string, scores []float64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("train: reference cache: %w", err)
	}
	body := make([]byte, 8*len(scores), 8*len(scores)+sha256.Size)
	for i, v := range scores {
		binary.LittleEndian.PutUint64(body[8*i:], math.Float64bits(v))
	}
	sum := sha256.Sum256(body)
	body = append(body, sum[:]...)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ref-*")
	if err != nil {
		return fmt.Errorf("train: reference cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return fmt.Errorf("train: reference cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("train: reference cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("train: reference cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("train: reference cache: %w", err)
	}
	return nil
}
