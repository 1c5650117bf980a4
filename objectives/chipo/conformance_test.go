package chipo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/chipo"
)

func TestConformance(t *testing.T) {
	variants := []struct {
		name   string
		params map[string]any
	}{
		{"defaults", nil},
		{"wide_clip", map[string]any{"beta": 0.01, "r_max": 50.0}},
		{"tight_clip", map[string]any{"beta": 1.0, "r_max": 0.25}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { conformance.Run(t, core.Local(chipo.Definition()), v.params) })
	}
}
