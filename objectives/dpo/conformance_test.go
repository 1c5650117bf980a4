package dpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/dpo"
)

func TestConformance(t *testing.T) {
	variants := []struct {
		name   string
		params map[string]any
	}{
		{"defaults", nil},
		{"sigmoid/label_smoothing", map[string]any{"label_smoothing": 0.2, "beta": 0.5}},
		{"sigmoid/label_smoothing_half", map[string]any{"label_smoothing": 0.5}},
		{"hinge", map[string]any{"loss_type": "hinge", "beta": 0.3}},
		{"robust", map[string]any{"loss_type": "robust"}},
		{"robust/label_smoothing", map[string]any{"loss_type": "robust", "label_smoothing": 0.1}},
		{"reference_free", map[string]any{"reference_free": true}},
		{"reference_free/hinge", map[string]any{"reference_free": true, "loss_type": "hinge"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { conformance.Run(t, core.Local(dpo.Definition()), v.params) })
	}
}
