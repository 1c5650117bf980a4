package plugin

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/prefopt/prefopt/core"
)

// pidFileEnv names the file where a "slowstart" plugin or a "host" writes a
// pid; wrapperEnv the plugin path a "host" launches.
const (
	pidFileEnv = "PREFOPT_PLUGIN_TEST_PIDFILE"
	wrapperEnv = "PREFOPT_PLUGIN_TEST_WRAPPER"
)

func writePID(path string) {
	if err := os.WriteFile(path+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o644); err == nil {
		os.Rename(path+".tmp", path)
	}
}

// hostAndWait launches the plugin at $wrapperEnv, starts a helper in its
// process group, writes the group id to $pidFileEnv and sleeps until
// killed.
func hostAndWait() int {
	stateDir, pidFile, path := os.Getenv("STATE_DIR"), os.Getenv(pidFileEnv), os.Getenv(wrapperEnv)
	for _, k := range []string{serveEnv, pidFileEnv, wrapperEnv, "STATE_DIR"} {
		os.Unsetenv(k)
	}
	c, err := Launch(context.Background(), Config{Path: path, Env: []string{serveEnv + "=fault"}, Label: "fault", Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	obj, _, err := c.Configure(context.Background(), map[string]any{"helper_on": int64(1), "state_dir": stateDir})
	if err == nil {
		_, err = obj.Compute(context.Background(), randomBatch(rand.New(rand.NewPCG(1, 1)), 2))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(pidFile+".tmp", []byte(strconv.Itoa(c.Pid())), 0o644); err != nil {
		return 1
	}
	if err := os.Rename(pidFile+".tmp", pidFile); err != nil {
		return 1
	}
	time.Sleep(time.Hour)
	return 0
}

// noPolicyDefinition is an objective that reads only reference log-probs:
// nothing it computes has a gradient to train with.
func noPolicyDefinition() core.Definition {
	return core.Definition{
		Spec: core.Spec{Name: "nopolicy", Version: "1.0.0", Doc: "test objective reading no policy input"},
		New:  func(core.Params) (core.Objective, error) { return noPolicy{}, nil },
	}
}

type noPolicy struct{}

func (noPolicy) Inputs() []string {
	return []string{core.ReferenceChosenLogps, core.ReferenceRejectedLogps}
}

func (noPolicy) Compute(context.Context, *core.Batch) (*core.Result, error) {
	return nil, errors.New("nopolicy: never called")
}
