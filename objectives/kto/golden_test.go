package kto_test

import (
	"testing"

	"github.com/prefopt/prefopt/objectives/internal/golden"
	"github.com/prefopt/prefopt/objectives/kto"
)

func TestGolden(t *testing.T) { golden.Run(t, kto.Definition()) }
