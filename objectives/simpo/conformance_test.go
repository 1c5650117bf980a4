package simpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/simpo"
)

func TestConformance(t *testing.T) {
	variants := []struct {
		name   string
		params map[string]any
	}{
		{"defaults", nil},
		{"gamma_beta_ratio", map[string]any{"beta": 2.5, "gamma_beta_ratio": 0.3}},
		{"gamma", map[string]any{"beta": 2.5, "gamma": 1.4}},
		{"label_smoothing", map[string]any{"label_smoothing": 0.2}},
		{"sft_weight", map[string]any{"sft_weight": 0.5}},
		{"all", map[string]any{"beta": 10.0, "gamma": 3.0, "label_smoothing": 0.1, "sft_weight": 1.0}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { conformance.Run(t, core.Local(simpo.Definition()), v.params) })
	}
}
