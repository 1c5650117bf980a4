package conformance

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/dpo"
)

// A hinge DPO pair sitting exactly on its kink (βh = 1) is skipped by the
// gradient check, for both of its inputs, instead of being reported as a
// mismatch; every other point is checked.
func TestGradientCheckSkipsKinks(t *testing.T) {
	obj, _, err := core.Local(dpo.Definition()).Configure(t.Context(), map[string]any{"loss_type": "hinge", "beta": 0.5})
	require.NoError(t, err)
	inputs := obj.Inputs()
	b := generate(rand.New(rand.NewPCG(11, 12)), inputs, 17, genOptions{})
	// h = (−10 − −12) − (−10 − −10) = 2, βh = 1.
	b.PolicyChosenLogps[0], b.PolicyRejectedLogps[0] = -10, -12
	b.ReferenceChosenLogps[0], b.ReferenceRejectedLogps[0] = -10, -10
	c := &checker{ctx: t.Context(), opts: Options{Timeout: time.Minute}, rep: &Report{}}
	s := &state{}
	assert.Equal(t, 2, c.checkGradients(s, obj, inputs, []namedBatch{{name: "kink", b: b}}))
	assert.Zero(t, s.problems, "%v", s.lines)
	assert.Equal(t, 2.0, s.numbers["kinks_skipped"])
}
