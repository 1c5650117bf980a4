package ipo_test

import (
	"testing"

	"github.com/prefopt/prefopt/objectives/internal/golden"
	"github.com/prefopt/prefopt/objectives/ipo"
)

func TestGolden(t *testing.T) { golden.Run(t, ipo.Definition()) }
