package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each update: LR(step) is the rate for
// the update made after step updates, so the first update uses LR(0). This
// is transformers' convention (a LambdaLR stepped after each optimizer
// step): with warmup the first update has learning rate 0.
type Schedule struct {
	Kind   string  // "cosine", "linear" or "constant"
	PeakLR float64 // learning rate at the end of warmup
	Warmup int     // warmup length in updates
	Total  int     // total updates of the run
	// MinRatio is the floor of the decay as a fraction of PeakLR: the factor
	// f of transformers' schedule becomes f·(1−MinRatio) + MinRatio.
	MinRatio float64
}

// NewSchedule checks the schedule's parameters.
func NewSchedule(kind string, peakLR float64, warmup, total int, minRatio float64) (Schedule, error) {
	s := Schedule{Kind: kind, PeakLR: peakLR, Warmup: warmup, Total: total, MinRatio: minRatio}
	switch {
	case kind != "cosine" && kind != "linear" && kind != "constant":
		return s, fmt.Errorf(`optim: schedule must be one of "cosine", "linear", "constant", got %q`, kind)
	case !(peakLR > 0) || math.IsInf(peakLR, 0):
		return s, fmt.Errorf("optim: peak learning rate must be finite and > 0, got %v", peakLR)
	case warmup < 0:
		return s, fmt.Errorf("optim: warmup must be >= 0, got %d", warmup)
	case total <= 0:
		return s, fmt.Errorf("optim: total steps must be > 0, got %d", total)
	case !(minRatio >= 0 && minRatio <= 1):
		return s, fmt.Errorf("optim: min_lr_ratio must be in [0, 1], got %v", minRatio)
	}
	return s, nil
}

// LR returns PeakLR·factor(step) where, with w = Warmup and T = Total,
//
//	step < w:   factor = step / max(1, w)
//	constant:   factor = 1
//	linear:     factor = max(0, (T − step) / max(1, T − w))
//	cosine:     factor = max(0, ½(1 + cos(π·(step − w)/max(1, T − w))))
//
// and after warmup the decaying factors are lifted to f·(1−MinRatio) +
// MinRatio. These are the lambdas of transformers'
// get_constant_schedule_with_warmup, get_linear_schedule_with_warmup and
// get_cosine_schedule_with_warmup (num_cycles = 0.5); the MinRatio lift is
// that of get_cosine_with_min_lr_schedule_with_warmup (min_lr_rate), applied
// to linear decay too. Beyond T the linear factor stays 0 (then MinRatio);
// the cosine factor rises again as in transformers. LR panics if Kind is
// not one of the three (use NewSchedule).
func (s Schedule) LR(step int) float64 {
	return s.PeakLR * s.factor(step)
}

func (s Schedule) factor(step int) float64 {
	if step < s.Warmup {
		return float64(step) / float64(max(1, s.Warmup))
	}
	var f float64
	switch s.Kind {
	case "constant":
		return 1
	case "linear":
		f = math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
	case "cosine":
		progress := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
		f = math.Max(0, 0.5*(1+math.Cos(math.Pi*0.5*2*progress)))
	default:
		panic("optim: Schedule.LR: unknown kind " + s.Kind)
	}
	return f*(1-s.MinRatio) + s.MinRatio
}
