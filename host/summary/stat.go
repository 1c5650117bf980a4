package summary

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Confidence is the two-sided coverage of every [Stat] interval.
const Confidence = 0.95

// Stat is one metric over seeds: its mean with a 95% Student-t confidence
// interval for the mean, mean ± t_{0.975, n−1}·s/√n, s the sample standard
// deviation. With one value the interval is the value itself (Lo = Hi =
// Mean): no spread is known.
type Stat struct {
	Mean float64 `json:"mean"`
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
	// Values are the per-seed values, in the order of [Summary.Seeds].
	Values []float64 `json:"values"`
}

// NewStat summarises values (non-empty, all finite; NaN results otherwise).
func NewStat(values []float64) Stat {
	s := Stat{Values: append([]float64(nil), values...)}
	n := float64(len(values))
	if len(values) == 0 {
		s.Mean, s.Lo, s.Hi = math.NaN(), math.NaN(), math.NaN()
		return s
	}
	for _, v := range values {
		s.Mean += v
	}
	s.Mean /= n
	if len(values) == 1 {
		s.Lo, s.Hi = s.Mean, s.Mean
		return s
	}
	ss := 0.0
	for _, v := range values {
		ss += (v - s.Mean) * (v - s.Mean)
	}
	sd := math.Sqrt(ss / (n - 1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(1 - (1-Confidence)/2)
	h := t * sd / math.Sqrt(n)
	s.Lo, s.Hi = s.Mean-h, s.Mean+h
	return s
}

// HalfWidth is (Hi − Lo)/2, the ± of the interval.
func (s Stat) HalfWidth() float64 { return (s.Hi - s.Lo) / 2 }
