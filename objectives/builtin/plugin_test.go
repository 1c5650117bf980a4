package builtin_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/objectives/builtin"
)

// serveEnv makes the test binary serve the named built-in objective as a
// plugin instead of running tests (go-plugin's helper-process pattern).
const serveEnv = "PREFOPT_BUILTIN_TEST_SERVE"

func TestMain(m *testing.M) {
	name := os.Getenv(serveEnv)
	if name == "" {
		os.Exit(m.Run())
	}
	for _, d := range builtin.Definitions() {
		if d.Spec.Name == name {
			plugin.Serve(d)
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, "unknown built-in objective", name)
	os.Exit(2)
}

// pluginVariants exercise, through the wire, what is new in the contract:
// list parameters, per-token inputs and gradients, WPO inputs, inputs that
// depend on parameters, and the objectives added with them.
var pluginVariants = []struct {
	objective string
	params    map[string]any
}{
	{"dpo", map[string]any{"loss_type": []string{"sigmoid", "sft", "aot"}, "loss_weights": []float64{1, 0.5, 0.25}}},
	{"dpo", map[string]any{"ld_alpha": 0.5, "use_weighting": true, "loss_type": []string{"ipo", "sft"}}},
	{"dpo", map[string]any{"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.3,
		"loss_type": []string{"exo_pair", "discopop"}, "label_smoothing": 0.01}},
	{"kto", map[string]any{"loss_type": "apo_zero_unpaired"}},
	{"chipo", map[string]any{"beta": 0.05, "r_max": 10.0}},
	{"caldpo", nil},
}

func TestConformanceAsPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	for k, v := range pluginVariants {
		t.Run(fmt.Sprintf("%s/%d", v.objective, k), func(t *testing.T) {
			c, err := plugin.Launch(t.Context(), plugin.Config{Path: exe, Env: []string{serveEnv + "=" + v.objective},
				Label: v.objective, AutoMTLS: true, Timeout: 30 * time.Second})
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			builtin.Register()
			local, err := core.Lookup(v.objective)
			require.NoError(t, err)
			assert.Equal(t, local.Spec, c.Spec(), "spec must survive the wire")
			conformance.Run(t, c, v.params)
		})
	}
}
