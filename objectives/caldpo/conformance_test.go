package caldpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/caldpo"
)

func TestConformance(t *testing.T) {
	for _, params := range []map[string]any{nil, {"beta": 0.5}, {"beta": 0.01}} {
		conformance.Run(t, core.Local(caldpo.Definition()), params)
	}
}
