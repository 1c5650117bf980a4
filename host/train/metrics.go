package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prefopt/prefopt/host/metric"
)

// Metric names the trainer writes.
const (
	keyLoss         = metric.Loss
	keyGradNorm     = metric.GradNorm
	keyLR           = metric.LearningRate
	keyEpoch        = metric.Epoch
	keyTokensPerSec = metric.TokensPerSecond
	keyStep         = metric.Step
	keySkipped      = metric.SkippedSteps
	evalPrefix      = metric.EvalPrefix
)

// ReservedMetrics are the names the host writes into a training record. An
// objective's metric with one of these names is renamed with the prefix
// [metric.ObjectivePrefix] ("objective/loss"), so it never overwrites the
// host's value; the first rename of each name is logged.
var ReservedMetrics = []string{keyLoss, keyGradNorm, keyLR, keyEpoch, keyTokensPerSec, keyStep, keySkipped}

// metricNames renames objective metrics that collide with host names.
type metricNames struct {
	reserved map[string]bool
	mu       sync.Mutex
	warned   map[string]bool
	logf     func(format string, a ...any)
}

func newMetricNames(extra []string, logf func(string, ...any)) *metricNames {
	m := &metricNames{reserved: map[string]bool{}, warned: map[string]bool{}, logf: logf}
	for _, k := range append(slices.Clone(ReservedMetrics), extra...) {
		m.reserved[k] = true
	}
	return m
}

// rename returns the objective's metrics with reserved names prefixed.
func (m *metricNames) rename(in map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(in))
	for k, v := range in {
		if m.reserved[k] || strings.HasPrefix(k, evalPrefix) && m.reserved[strings.TrimPrefix(k, evalPrefix)] {
			m.mu.Lock()
			if !m.warned[k] {
				m.warned[k] = true
				m.logf("objective metric %q collides with a host metric: recorded as %q\n", k, metric.ObjectivePrefix+k)
			}
			m.mu.Unlock()
			k = metric.ObjectivePrefix + k
		}
		out[k] = v
	}
	return out
}

// window averages training steps between two log lines, as TRL logs the
// mean loss and the mean of the stored metrics over the logging interval.
type window struct {
	sums    map[string]float64
	steps   int
	tokens  int
	seconds float64
	skipped int
	last    StepResult
}

func (w *window) add(st StepResult) {
	if w.sums == nil {
		w.sums = map[string]float64{}
	}
	w.seconds += st.Times.Total().Seconds()
	if st.Skipped {
		w.skipped++
		return
	}
	w.steps++
	w.tokens += st.Tokens
	w.sums[keyLoss] += st.Loss
	for k, v := range st.Metrics {
		w.sums[k] += v
	}
	w.last = st
}

// values returns the window's record: loss and objective metrics averaged
// over its applied steps, grad_norm and learning_rate of its last applied
// step, tokens per second over the window, and the skipped steps if any.
// It returns nil when no step was applied.
func (w *window) values() map[string]float64 {
	if w.steps == 0 {
		return nil
	}
	v := make(map[string]float64, len(w.sums)+4)
	for k, s := range w.sums {
		v[k] = s / float64(w.steps)
	}
	v[keyGradNorm] = w.last.GradNorm
	v[keyLR] = w.last.LR
	if w.seconds > 0 {
		v[keyTokensPerSec] = float64(w.tokens) / w.seconds
	}
	if w.skipped > 0 {
		v[keySkipped] = float64(w.skipped)
	}
	return v
}

func (w *window) reset() { *w = window{} }

// maxKeptRecords bounds the training records an [Outcome] keeps in memory;
// metrics.jsonl has them all.
const maxKeptRecords = 2048

// keepThinned appends r to rs, halving rs (every other record, the newest
// kept) when it is full, so a long run keeps an evenly thinned history in
// bounded memory.
func keepThinned(rs []Record, r Record) []Record {
	if len(rs) >= maxKeptRecords {
		k := 0
		for i := len(rs) % 2; i < len(rs); i += 2 {
			rs[k] = rs[i]
			k++
		}
		rs = rs[:k]
	}
	return append(rs, r)
}

// recordLine encodes a record as one JSON line. Non-finite values, which
// JSON cannot hold, are an error naming the key.
func recordLine(r Record) ([]byte, error) {
	for k, v := range r.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("metric %q at step %d is not finite (%v)", k, r.Step, v)
		}
	}
	line, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// truncateRecords rewrites the metrics file at path keeping only the
// records of steps ≤ step, so that a resumed run does not log a step twice.
// A missing file is not an error. The file is replaced atomically.
func truncateRecords(path string, step int) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept bytes.Buffer
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var head struct {
			Step *int `json:"step"`
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil || head.Step == nil {
			// A line cut by a crash mid-write ends the usable records.
			break
		}
		if *head.Step <= step {
			kept.Write(sc.Bytes())
			kept.WriteByte('\n')
		}
	}
	err = sc.Err()
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".metrics-*.jsonl")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, &kept); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
