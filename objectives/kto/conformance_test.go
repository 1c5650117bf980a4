package kto_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/kto"
)

func TestConformance(t *testing.T) {
	variants := []struct {
		name   string
		params map[string]any
	}{
		{"defaults", nil},
		{"beta", map[string]any{"beta": 0.5}},
		{"unequal_weights", map[string]any{"desirable_weight": 1.33, "undesirable_weight": 0.7}},
		{"apo_zero_unpaired", map[string]any{"loss_type": "apo_zero_unpaired"}},
		{"apo_zero_unpaired/weights", map[string]any{"loss_type": "apo_zero_unpaired", "beta": 0.5,
			"desirable_weight": 1.33, "undesirable_weight": 0.7}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { conformance.Run(t, core.Local(kto.Definition()), v.params) })
	}
}
