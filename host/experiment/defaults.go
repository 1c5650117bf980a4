package experiment

import (
	_ "embed"

	"github.com/prefopt/prefopt/host/config"
)

// DefaultCompare is the experiment `prefopt compare` runs when given none.
//
//go:embed defaults/compare.toml
var DefaultCompare []byte

// LoadDefaultCompare parses DefaultCompare.
func LoadDefaultCompare() (*config.Experiment, error) {
	return config.Parse(DefaultCompare, "default compare experiment")
}
