package cli

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/objectives/builtin"
)

// TestObjectiveServe launches "prefopt objective serve dpo" as any host
// would — a process with the go-plugin handshake environment — and checks
// that it computes what the built-in computes in-process.
func TestObjectiveServe(t *testing.T) {
	ctx := context.Background()
	c, err := plugin.Launch(ctx, plugin.Config{
		Path: mustExecutable(t), Args: []string{"-test.run=^$", "--", "objective", "serve", "dpo"},
		Env: []string{mainEnv + "=1"}, Label: "served dpo", AutoMTLS: true, Timeout: time.Minute,
	})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "dpo", c.Spec().Name)

	params := map[string]any{"beta": 0.3}
	batch, err := core.DecodeBatchJSON(strings.NewReader(pairedBatch))
	require.NoError(t, err)
	served, _, err := c.Configure(ctx, params)
	require.NoError(t, err)
	got, err := served.Compute(ctx, batch)
	require.NoError(t, err)

	builtin.Register()
	d, err := core.Lookup("dpo")
	require.NoError(t, err)
	local, _, err := core.Local(d).Configure(ctx, params)
	require.NoError(t, err)
	want, err := local.Compute(ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return exe
}
