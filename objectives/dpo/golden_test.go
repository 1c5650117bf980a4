package dpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/objectives/dpo"
	"github.com/prefopt/prefopt/objectives/internal/golden"
)

func TestGolden(t *testing.T) { golden.Run(t, dpo.Definition()) }
