package chipo_test

import (
	"testing"

	"github.com/prefopt/prefopt/objectives/chipo"
	"github.com/prefopt/prefopt/objectives/internal/golden"
)

func TestGolden(t *testing.T) { golden.Run(t, chipo.Definition()) }
