package conformance_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/dpo"
)

// Check runs the suite outside go test, on any provider: here DPO in
// process; a *plugin.Client checks the same objective through its plugin.
func ExampleCheck() {
	rep := conformance.Check(context.Background(), core.Local(dpo.Definition()),
		map[string]any{"beta": 0.5}, conformance.Options{Timeout: 5 * time.Second, LatencySizes: []int{64}})
	if err := rep.WriteText(os.Stdout); err != nil {
		fmt.Println(err)
	}
	if rep.Failed() {
		os.Exit(1)
	}
}
