package experiment

import (
	_ "embed"

	"github.com/prefopt/prefopt/host/config"
)

// DefaultCompare is the experiment `prefopt compare` runs when given none.
//
//go:embed defaults/compare.toml
var DefaultCompare []byte

// LoadDefaultCompare parses DefaultCompare. It has no file: its relative
// paths (run.output_dir) resolve from the current directory.
func LoadDefaultCompare() (*config.Experiment, error) {
	return config.ParseBuiltin(DefaultCompare, "default compare experiment")
}
