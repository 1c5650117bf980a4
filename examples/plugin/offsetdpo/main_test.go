package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/core/plugin"
)

// TestConformanceInProcess runs the shared suite on the objective itself.
func TestConformanceInProcess(t *testing.T) {
	for _, params := range []map[string]any{nil, {"delta": 2.0, "beta": 0.5}} {
		conformance.Run(t, core.Local(Definition()), params)
	}
}

// TestConformanceAsPlugin builds this command as a separate binary, as a
// third party would, pins its sha256, and runs the suite through it.
func TestConformanceAsPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "offsetdpo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	c, err := plugin.Launch(context.Background(), plugin.Config{Path: bin, Label: "offsetdpo", AutoMTLS: true, SHA256: hex.EncodeToString(sum[:])})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "offsetdpo", c.Spec().Name)
	conformance.Run(t, c, map[string]any{"delta": 1.0})
}

// TestDeltaZeroIsDPO: with δ = 0 the loss at h = 0 is ln 2 and the gradient
// ∓β/2/N (σ(0) = 1/2), DPO's values.
func TestDeltaZeroIsDPO(t *testing.T) {
	obj, _, err := core.Local(Definition()).Configure(context.Background(), map[string]any{"beta": 0.3})
	require.NoError(t, err)
	b := &core.Batch{PolicyChosenLogps: []float64{-3, -5}, PolicyRejectedLogps: []float64{-4, -6},
		ReferenceChosenLogps: []float64{-2, -1}, ReferenceRejectedLogps: []float64{-3, -2}}
	r, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	assert.InDelta(t, 0.6931471805599453, r.Loss, 1e-15) // ln 2
	assert.InDelta(t, -0.3/2/2, r.Grads[core.PolicyChosenLogps][0], 1e-15)
	assert.InDelta(t, 0.3/2/2, r.Grads[core.PolicyRejectedLogps][1], 1e-15)
}
