// Command prefopt trains language models with preference-optimization
// objectives that run as plugins, and compares those objectives side by side.
//
// Run "prefopt help" for the commands.
package main

import (
	"os"

	"github.com/prefopt/prefopt/host/cli"
	"github.com/prefopt/prefopt/host/objective"
)

func main() {
	objective.ServeIfAsked()
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
