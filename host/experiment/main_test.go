package experiment

import (
	"os"
	"testing"

	"github.com/prefopt/prefopt/host/objective"
)

func TestMain(m *testing.M) {
	objective.ServeIfAsked() // built-ins re-execute this test binary as their plugin
	os.Exit(m.Run())
}
