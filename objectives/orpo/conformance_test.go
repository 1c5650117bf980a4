package orpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/orpo"
)

func TestConformance(t *testing.T) {
	variants := []struct {
		name   string
		params map[string]any
	}{
		{"defaults", nil},
		{"beta", map[string]any{"beta": 1.0}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { conformance.Run(t, core.Local(orpo.Definition()), v.params) })
	}
}
