// Package builtin lists the objectives shipped with prefopt: caldpo, chipo,
// dpo, ipo, kto, orpo and simpo.
package builtin

import (
	"sync"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/caldpo"
	"github.com/prefopt/prefopt/objectives/chipo"
	"github.com/prefopt/prefopt/objectives/dpo"
	"github.com/prefopt/prefopt/objectives/ipo"
	"github.com/prefopt/prefopt/objectives/kto"
	"github.com/prefopt/prefopt/objectives/orpo"
	"github.com/prefopt/prefopt/objectives/simpo"
)

// Definitions returns the built-in objectives, sorted by name.
func Definitions() []core.Definition {
	return []core.Definition{
		caldpo.Definition(),
		chipo.Definition(),
		dpo.Definition(),
		ipo.Definition(),
		kto.Definition(),
		orpo.Definition(),
		simpo.Definition(),
	}
}

var once sync.Once

// Register registers every built-in objective with [core.Register]. It may
// be called any number of times; only the first call registers. It panics,
// like core.Register, if another objective already uses a built-in name.
func Register() {
	once.Do(func() {
		for _, d := range Definitions() {
			core.Register(d)
		}
	})
}
