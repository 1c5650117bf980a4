// Command plugin serves a deliberately faulty objective of package broken
// as a plugin, chosen by the environment variable PREFOPT_BROKEN_MODE: one
// of broken.Modes, or "stdout", which prints to stdout before the handshake.
package main

import (
	"fmt"
	"os"

	"github.com/prefopt/prefopt/core/conformance/internal/broken"
	"github.com/prefopt/prefopt/core/plugin"
)

func main() {
	mode := os.Getenv("PREFOPT_BROKEN_MODE")
	if mode == "stdout" {
		fmt.Println("loading weights...")
		mode = ""
	}
	plugin.Serve(broken.Definition(mode))
}
