package simpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/objectives/internal/golden"
	"github.com/prefopt/prefopt/objectives/simpo"
)

func TestGolden(t *testing.T) { golden.Run(t, simpo.Definition()) }
