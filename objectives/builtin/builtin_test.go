package builtin_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/builtin"
)

func TestDefinitions(t *testing.T) {
	defs := builtin.Definitions()
	var names []string
	for _, d := range defs {
		names = append(names, d.Spec.Name)
		assert.NoError(t, d.Spec.Validate(), d.Spec.Name)
		assert.NotNil(t, d.New, d.Spec.Name)
		assert.Regexp(t, `^\d+\.\d+\.\d+$`, d.Spec.Version, d.Spec.Name)
		assert.NotEmpty(t, d.Spec.Doc, d.Spec.Name)
		for _, p := range d.Spec.Params {
			assert.NotEmpty(t, p.Doc, "%s.%s", d.Spec.Name, p.Name)
			// prefopt objective list shows Spec.Doc: it names every
			// parameter and every loss type.
			assert.Contains(t, d.Spec.Doc, p.Name, "%s: Spec.Doc must name parameter %s", d.Spec.Name, p.Name)
			if p.Name == "loss_type" {
				for _, lt := range p.Enum {
					assert.Contains(t, d.Spec.Doc, lt, "%s: Spec.Doc must name loss type %s", d.Spec.Name, lt)
				}
			}
		}
		_, _, err := core.Local(d).Configure(t.Context(), nil)
		assert.NoError(t, err, "%s with defaults", d.Spec.Name)
	}
	assert.Equal(t, []string{"caldpo", "chipo", "dpo", "ipo", "kto", "orpo", "simpo"}, names)
	assert.True(t, slices.IsSorted(names))
}

func TestRegisterIsIdempotent(t *testing.T) {
	require.NotPanics(t, builtin.Register)
	require.NotPanics(t, builtin.Register)
	for _, name := range []string{"caldpo", "chipo", "dpo", "ipo", "kto", "orpo", "simpo"} {
		d, err := core.Lookup(name)
		require.NoError(t, err)
		assert.Equal(t, name, d.Spec.Name)
	}
	assert.Subset(t, core.Registered(), []string{"caldpo", "chipo", "dpo", "ipo", "kto", "orpo", "simpo"})
}
