// Package dpop tests the Python DPOP plugin in dpop.py through prefopt's Go
// host: the shared conformance suite across the process boundary, and a
// short training run. The tests skip when /usr/bin/python3 lacks the
// Python SDK's dependencies.
package dpop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/host/cli"
)

func requirePython(t *testing.T) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", "import grpc, google.protobuf, numpy, cryptography").CombinedOutput()
	if err != nil {
		t.Skipf("skipping: /usr/bin/python3 cannot import the Python SDK's dependencies "+
			"(apt-get install python3-grpcio python3-protobuf python3-numpy python3-cryptography): %v\n%s", err, out)
	}
}

func TestConformanceThroughPython(t *testing.T) {
	requirePython(t)
	path, err := filepath.Abs("dpop.py")
	require.NoError(t, err)
	for _, mtls := range []bool{true, false} {
		c, err := plugin.Launch(context.Background(), plugin.Config{Path: path, Label: "dpop", AutoMTLS: mtls})
		require.NoError(t, err, "autoMTLS=%v", mtls)
		assert.Equal(t, "dpop", c.Spec().Name)
		conformance.Run(t, c, nil)
		conformance.Run(t, c, map[string]any{"beta": 0.5, "lambda": 0.0})
		_, _, err = c.Configure(context.Background(), map[string]any{"lambda": -1.0})
		var pe *core.ParamError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "lambda", pe.Param)
		require.NoError(t, c.Close())
	}
}

// TestTrain runs dpop.toml for its 20 steps and checks the loss went down.
func TestTrain(t *testing.T) {
	requirePython(t)
	toml, err := filepath.Abs("dpop.toml")
	require.NoError(t, err)
	out := t.TempDir()
	t.Chdir("../../../..") // the plugin path in dpop.toml is relative to the repository root
	var stdout, stderr bytes.Buffer
	code := cli.Main([]string{"train", toml, "--out", out}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	f, err := os.Open(filepath.Join(out, "dpop", "metrics.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var losses []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		if l, ok := m["loss"].(float64); ok && m["split"] != "eval" {
			losses = append(losses, l)
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, losses, "no training losses in metrics.jsonl")
	assert.Less(t, losses[len(losses)-1], losses[0], "DPOP did not lower the loss in 20 steps: %v", losses)
}
