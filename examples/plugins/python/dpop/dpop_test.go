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
	"fmt"
	"math/rand/v2"
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
	"github.com/prefopt/prefopt/internal/pytest"
)

func requirePython(t testing.TB) { pytest.Require(t, pytest.SDK...) }

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
	t.Chdir(t.TempDir()) // paths in dpop.toml are relative to the file, wherever prefopt runs
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
		if l, ok := m["loss"].(float64); ok {
			losses = append(losses, l)
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, losses, "no training losses in metrics.jsonl")
	assert.Less(t, losses[len(losses)-1], losses[0], "DPOP did not lower the loss in 20 steps: %v", losses)
}

// BenchmarkCompute measures one Compute round trip from the Go host to the
// Python DPOP plugin and, for comparison, to the Go built-in DPO served by
// a prefopt binary built from this checkout, both with AutoMTLS.
func BenchmarkCompute(b *testing.B) {
	requirePython(b)
	bin := filepath.Join(b.TempDir(), "prefopt")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/prefopt/prefopt/host/cmd/prefopt").CombinedOutput()
	require.NoError(b, err, "%s", out)
	py, err := filepath.Abs("dpop.py")
	require.NoError(b, err)
	plugins := []struct {
		name string
		cfg  plugin.Config
	}{
		{"go-dpo", plugin.Config{Path: bin, Env: []string{"PREFOPT_SERVE_BUILTIN=dpo"}, Label: "dpo", AutoMTLS: true}},
		{"python-dpop", plugin.Config{Path: py, Label: "dpop", AutoMTLS: true}},
	}
	for _, p := range plugins {
		c, err := plugin.Launch(context.Background(), p.cfg)
		require.NoError(b, err)
		obj, _, err := c.Configure(context.Background(), nil)
		require.NoError(b, err)
		for _, n := range []int{16, 64, 1024} {
			batch := benchBatch(n)
			b.Run(fmt.Sprintf("%s/n=%d", p.name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := obj.Compute(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		require.NoError(b, c.Close())
	}
}

// benchBatch returns n pairs of log-probs in the range of short completions.
func benchBatch(n int) *core.Batch {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func() []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = -1 - 30*rng.Float64()
		}
		return xs
	}
	return &core.Batch{PolicyChosenLogps: draw(), PolicyRejectedLogps: draw(),
		ReferenceChosenLogps: draw(), ReferenceRejectedLogps: draw()}
}
