package summary

import (
	"math"
	"testing"
)

func TestNewStatStudentT(t *testing.T) {
	// Three values: mean 2, s = 1; t_{0.975,2} = 4.302652729911275 (tables:
	// 4.303), so the half-width is 4.302652729911275/√3.
	s := NewStat([]float64{1, 2, 3})
	if s.Mean != 2 {
		t.Fatalf("mean %v, want 2", s.Mean)
	}
	want := 4.302652729911275 / math.Sqrt(3)
	if math.Abs(s.HalfWidth()-want) > 1e-9 || math.Abs((s.Hi-s.Mean)-(s.Mean-s.Lo)) > 1e-12 {
		t.Fatalf("interval [%v, %v], want 2 ± %v", s.Lo, s.Hi, want)
	}
	if len(s.Values) != 3 || s.Values[2] != 3 {
		t.Fatalf("values %v", s.Values)
	}
}

func TestNewStatLargeSampleApproachesNormal(t *testing.T) {
	// For many values the t quantile tends to the normal's 1.959964.
	v := make([]float64, 10001)
	for i := range v {
		v[i] = float64(i%2)*2 - 1 // ±1: s ≈ 1
	}
	s := NewStat(v)
	sd := 0.0
	for _, x := range v {
		sd += (x - s.Mean) * (x - s.Mean)
	}
	sd = math.Sqrt(sd / float64(len(v)-1))
	z := s.HalfWidth() / (sd / math.Sqrt(float64(len(v))))
	if math.Abs(z-1.959964) > 1e-3 {
		t.Fatalf("quantile %v, want ≈ 1.96", z)
	}
}

func TestNewStatOneAndNone(t *testing.T) {
	one := NewStat([]float64{0.25})
	if one.Mean != 0.25 || one.Lo != 0.25 || one.Hi != 0.25 {
		t.Fatalf("one value: %+v", one)
	}
	none := NewStat(nil)
	if !math.IsNaN(none.Mean) {
		t.Fatalf("no values: %+v", none)
	}
}
