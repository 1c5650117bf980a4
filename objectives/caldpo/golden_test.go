package caldpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/objectives/caldpo"
	"github.com/prefopt/prefopt/objectives/internal/golden"
)

func TestGolden(t *testing.T) { golden.Run(t, caldpo.Definition()) }
