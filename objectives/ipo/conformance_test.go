package ipo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/ipo"
)

func TestConformance(t *testing.T) {
	variants := []struct {
		name   string
		params map[string]any
	}{
		{"defaults", nil},
		{"summed", map[string]any{"length_normalize": false}},
		{"summed/beta", map[string]any{"length_normalize": false, "beta": 0.01}},
		{"normalized/beta", map[string]any{"length_normalize": true, "beta": 1.5}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { conformance.Run(t, core.Local(ipo.Definition()), v.params) })
	}
}
