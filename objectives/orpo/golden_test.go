package orpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/objectives/internal/golden"
	"github.com/prefopt/prefopt/objectives/orpo"
)

func TestGolden(t *testing.T) { golden.Run(t, orpo.Definition()) }
