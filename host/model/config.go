package model

import "fmt"

// Config fixes the shape of a model.
type Config struct {
	Vocab   int `toml:"vocab" json:"vocab"`       // number of token ids, ids are in [0, Vocab)
	Context int `toml:"context" json:"context"`   // number of learned positions: the longest sequence the model reads
	Width   int `toml:"width" json:"width"`       // residual stream width D
	Heads   int `toml:"heads" json:"heads"`       // attention heads; Width must be divisible by Heads
	Layers  int `toml:"layers" json:"layers"`     // transformer blocks
	MLPMult int `toml:"mlp_mult" json:"mlp_mult"` // MLP hidden width = Width·MLPMult
}

// Bounds accepted by [Config.Validate]. They keep the parameter count and
// the per-call memory of the graph within what one CPU process handles.
const (
	MaxVocab   = 1 << 20
	MaxContext = 1 << 16
	MaxWidth   = 1 << 14
	MaxHeads   = 1 << 10
	MaxLayers  = 1 << 10
	MaxMLPMult = 64
)

// Validate reports the first field outside its bounds.
func (c Config) Validate() error {
	checks := []struct {
		name      string
		v, lo, hi int
	}{
		{"vocab", c.Vocab, 2, MaxVocab},
		{"context", c.Context, 1, MaxContext},
		{"width", c.Width, 1, MaxWidth},
		{"heads", c.Heads, 1, MaxHeads},
		{"layers", c.Layers, 1, MaxLayers},
		{"mlp_mult", c.MLPMult, 1, MaxMLPMult},
	}
	for _, ch := range checks {
		if ch.v < ch.lo || ch.v > ch.hi {
			return fmt.Errorf("model: %s must be in [%d, %d], got %d", ch.name, ch.lo, ch.hi, ch.v)
		}
	}
	if c.Width%c.Heads != 0 {
		return fmt.Errorf("model: width must be divisible by heads, got width %d and heads %d", c.Width, c.Heads)
	}
	return nil
}

// HeadDim returns Width/Heads.
func (c Config) HeadDim() int { return c.Width / c.Heads }

// Hidden returns the MLP hidden width Width·MLPMult.
func (c Config) Hidden() int { return c.Width * c.MLPMult }
